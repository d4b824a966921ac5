-- A legal hold (PUT /admin/v1/tenants/{id}/hold): while one stands, no deletion of the tenant
-- is carried out. The fold of the tenant's history decides it; these columns show it, and
-- `hold_lifted_at` tells when a deletion that fell due during the hold becomes due.
alter table tenants
    add column legal_hold_since  timestamptz,
    add column legal_hold_by     text,
    add column legal_hold_reason text,
    add column hold_lifted_at    timestamptz,
    add constraint legal_hold_whole check (
        (legal_hold_since is null) = (legal_hold_by is null)
        and (legal_hold_since is null) = (legal_hold_reason is null)
    );
