-- The regions each residency allows (CONTRACT.md section 3), so that the scheduler finds the
-- tenants a residency learnt later left in a forbidden region with no move out running (none
-- had room when it was learnt, or the move was cancelled). `Residency::allowed_regions` in
-- src/domain/region.rs holds the same table; a test checks that the two agree.
create function residency_allows(residency text, region text) returns boolean
language sql immutable parallel safe as $$
    select case residency
        when 'us' then region = 'us-east-1'
        when 'eu' then region in ('eu-central-1', 'eu-west-1')
        when 'de' then region = 'eu-central-1'
        when 'ie' then region = 'eu-west-1'
        when 'sg' then region = 'ap-southeast-1'
        when 'au' then region = 'ap-southeast-2'
        when 'global' then true
        else false
    end
$$;

create index tenants_misplaced on tenants (id)
    where shard_id is not null and lifecycle <> 'DELETED' and site is not null
      and not residency_allows(residency, region);
