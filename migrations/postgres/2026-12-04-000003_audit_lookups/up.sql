-- Login throttling counts recent failures per username (kept in detail) and
-- per source address. With only the time index, each count scanned every
-- event of the window, and every issued token is an event: a busy server
-- would scan millions of rows per login attempt.
CREATE INDEX audit_events_kind_detail ON audit_events(kind, detail, at);
CREATE INDEX audit_events_kind_source ON audit_events(kind, source_ip, at);
