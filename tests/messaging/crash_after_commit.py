"""A registration service that dies right after committing `register_unit`, before its reply
and its acknowledgement, while the file named by CRASH_AFTER_COMMIT_FLAG exists (the flag is
removed first, so the next process serves normally). For tests/messaging/test_rpc_redelivery.py."""
import os

from services.registration import schemas
from services.registration.service import RegistrationService
from shared.nameko_edge import command


class CrashingRegistration(RegistrationService):
    @command()
    def register_unit(self, cmd):
        result = RegistrationService.register_unit(self, cmd)   # validated and committed
        flag = os.environ.get("CRASH_AFTER_COMMIT_FLAG", "")
        if flag and os.path.exists(flag):
            os.remove(flag)
            os._exit(9)
        return result



class LettersCrashingRegistration(RegistrationService):
    """issue_letters one letter per transaction, dying right after the first one commits while
    the flag file exists: the redelivered request must still issue every other letter."""
    letter_batch = 1

    @command(schemas.IssueLettersSchema)
    def issue_letters(self, cmd):
        flag = os.environ.get("CRASH_AFTER_COMMIT_FLAG", "")
        if flag and os.path.exists(flag):
            commit = self.app.execute

            def commit_then_die(*args, **kwargs):
                commit(*args, **kwargs)
                os.remove(flag)
                os._exit(9)

            self.app.execute = commit_then_die
        return RegistrationService.issue_letters.__wrapped__(self, cmd)
