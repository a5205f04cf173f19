"""A registration service that dies right after committing `register_unit`, before its reply
and its acknowledgement, while the file named by CRASH_AFTER_COMMIT_FLAG exists (the flag is
removed first, so the next process serves normally). For tests/messaging/test_rpc_redelivery.py."""
import os

from services.registration.service import RegistrationService
from shared.nameko_support import command


class CrashingRegistration(RegistrationService):
    @command()
    def register_unit(self, cmd):
        result = RegistrationService.register_unit(self, cmd)   # validated and committed
        flag = os.environ.get("CRASH_AFTER_COMMIT_FLAG", "")
        if flag and os.path.exists(flag):
            os.remove(flag)
            os._exit(9)
        return result
