"""Gateway accounts without the broker: password hashing and tokens."""
from services.gateway.accounts import AccountStore, LoginThrottle, Tokens, hash_password, verify_password
from shared.db import Database


def test_passwords_are_salted_scrypt_hashes():
    first, second = hash_password("正确的密码123"), hash_password("正确的密码123")
    assert first.startswith("scrypt$16384$8$1$") and first != second
    assert verify_password("正确的密码123", first) and not verify_password("错误的密码", first)
    assert not verify_password("x", "not-a-hash")


def test_tokens_expire_and_cannot_be_forged():
    tokens = Tokens("secret", ttl_seconds=60)
    token, exp = tokens.issue("staff-xf", now=1000)
    assert exp == 1060 and tokens.verify(token, now=1059) == "staff-xf"
    assert tokens.verify(token, now=1060) is None
    assert Tokens("other-secret").verify(token, now=1000) is None
    payload, signature = token.split(".")
    assert tokens.verify(payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + signature, now=1000) is None
    assert tokens.verify("garbage", now=1000) is None


def test_the_store_authenticates_and_scopes(tmp_path):
    store = AccountStore(Database(f"sqlite:///{tmp_path}/gw.db"))
    store.create("staff-xf", "mima-12345678", "community_staff", "周书记", community_id="xf", street_id="hp",
                 district_id="xq")
    assert store.authenticate("staff-xf", "wrong") is None and store.authenticate("nobody", "x") is None
    me = store.authenticate("staff-xf", "mima-12345678")
    assert me.actor() == {"user_id": "staff-xf", "name": "周书记", "role": "community_staff",
                          "scope": {"district_id": "xq", "street_id": "hp", "community_id": "xf"}}
    assert store.list({"community_id": "xf"}, 1, 10)["total"] == 1 and store.list({"community_id": "dq"}, 1, 10)["total"] == 0


def test_repeated_failed_logins_lock_the_name_for_a_while(tmp_path):
    throttle = LoginThrottle(Database(f"sqlite:///{tmp_path}/gw.db"), attempts=3, window=600)
    for t in (0, 10, 20):
        assert throttle.locked_for("staff-xf", now=t) == 0
        throttle.failed("staff-xf", now=t)
    assert throttle.locked_for("staff-xf", now=30) == 570 and throttle.locked_for("other", now=30) == 0
    assert throttle.locked_for("staff-xf", now=601) == 0        # the first failure has aged out
    throttle.succeeded("staff-xf")
    assert throttle.locked_for("staff-xf", now=30) == 0


def test_the_lock_holds_across_gateway_processes(tmp_path):
    """Two gateway replicas share the accounts database: failures spread over both count once."""
    url = f"sqlite:///{tmp_path}/gw.db"
    one, two = LoginThrottle(Database(url), attempts=4, window=600), LoginThrottle(Database(url), attempts=4, window=600)
    for t, replica in ((0, one), (5, two), (10, one)):
        replica.failed("sec-czj", now=t)
    assert one.locked_for("sec-czj", now=11) == 0 and two.locked_for("sec-czj", now=11) == 0
    two.failed("sec-czj", now=12)
    assert one.locked_for("sec-czj", now=13) == 587 and two.locked_for("sec-czj", now=13) == 587
    one.succeeded("sec-czj")
    assert two.locked_for("sec-czj", now=14) == 0
