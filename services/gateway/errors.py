"""Errors the gateway answers with: a stable code for machines, a Chinese message for people."""
from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(code, message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def unauthenticated() -> ApiError:
    return ApiError(401, "unauthenticated", "请先登录")


def forbidden(message: str = "您无权访问该内容") -> ApiError:
    return ApiError(403, "forbidden", message)


def not_found(what: str = "内容") -> ApiError:
    return ApiError(404, "not_found", f"{what}不存在")


def invalid(details: dict, message: str = "提交的内容有误，请检查后重试") -> ApiError:
    return ApiError(400, "invalid_input", message, details)


#: How a service's refusal code maps onto an HTTP status (default 409: the request was
#: understood but the state of things refuses it).
REFUSAL_STATUS = {"invalid_input": 400, "unreadable_file": 400, "not_found": 404,
                  "invalid_url": 400, "forbidden_target": 400, "unresolvable_target": 400, "weak_secret": 400,
                  "unknown_event_type": 400}


def refused(code: str, message: str, details: dict | None = None, missing: bool = False) -> ApiError:
    """A service's refusal as HTTP: 404 when something named does not exist (`missing`, from a
    domain `NotFound` such as `unknown_member`), else by code."""
    return ApiError(404 if missing else REFUSAL_STATUS.get(code, 409), code, message, details)
