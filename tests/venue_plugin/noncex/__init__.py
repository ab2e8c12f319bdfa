"""NonceX: a third venue, implemented only inside the test tree, to prove the venue shape.

Its order protocol is nonce based: every order carries a per-key nonce that the venue accepts
only once and only within a window ahead of the highest it has seen, and every request is
signed with HMAC-SHA256. It plugs in through `VENUES.register` (see `plugin.registered`) and
touches no shared module; `docs/extending.md` walks through it file by file.
"""
