-- The change log (tenant_changes) is written by the statement that queues the change messages
-- (catalog::outbox::enqueue), one set-based insert per batch, instead of a row trigger on the
-- outbox: the trigger ran a PL/pgSQL function and an upsert for every message. enqueue is the
-- only writer of the outbox, so no path can queue a change without keeping it.
drop trigger outbox_keeps_changes on outbox;
drop function keep_tenant_change();

-- The relay's watermark is the queueing time of the oldest waiting message: an index read,
-- not a scan of every waiting message at each heartbeat (a flood of events leaves thousands).
create index outbox_by_queueing_time on outbox (created_at);
