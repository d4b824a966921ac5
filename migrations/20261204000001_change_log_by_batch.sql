-- The change log (tenant_changes) is written by the statement that queues the change messages
-- (catalog::outbox::enqueue), one set-based insert per batch, instead of a row trigger on the
-- outbox: the trigger ran a PL/pgSQL function and an upsert for every message. enqueue is the
-- only writer of the outbox, so no path can queue a change without keeping it.
drop trigger outbox_keeps_changes on outbox;
drop function keep_tenant_change();
