-- The admin API: admin actions live in tenant_events like commerce's events; a withdrawn admin
-- deletion request is judged 'cancelled'. Tokens used for admin writes are remembered until
-- they expire (replay check), and every admin request is audited.

alter table tenant_events drop constraint tenant_events_outcome_check;
alter table tenant_events add constraint tenant_events_outcome_check
    check (outcome in ('applied', 'duplicate', 'rejected', 'cancelled'));

-- A deleted tenant's history keeps no personal data: site names are removed from `data`. The
-- digest of the original `data` still lets a late redelivery be told from an id reused for
-- another event.
alter table tenant_events add column purged_data_md5 text;

create table admin_token_uses (
    issuer     text not null,
    jti        text not null,
    expires_at timestamptz not null,
    used_at    timestamptz not null default now(),
    primary key (issuer, jti)
);
create index admin_token_uses_by_expiry on admin_token_uses (expires_at);

create table admin_audit (
    id         bigserial primary key,
    at         timestamptz not null default now(),
    -- Who, from the verified token; null when the request had no valid token.
    subject    text,
    issuer     text,
    token_id   text,
    method     text not null,
    path       text not null,
    tenant_id  uuid,
    shard_id   text,
    -- The request body as parsed, when it was valid JSON.
    request    jsonb,
    status     smallint not null,
    outcome    text not null
);
create index admin_audit_by_tenant on admin_audit (tenant_id, at) where tenant_id is not null;
create index admin_audit_by_time on admin_audit (at);
