DROP INDEX audit_events_kind_source;
DROP INDEX audit_events_kind_detail;
