"""Control service: the operator-facing API (status, pause/resume, kill switch)."""
