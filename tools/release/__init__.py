"""Release tooling: the offline review diff, promotion and rollback of pinned model versions, CI helpers.

Every command exits 0 on success and 2, with one clear message and no traceback, on bad input
(unknown stack or git ref, dirty tree, a rewrite that would make the stack invalid).
"""
