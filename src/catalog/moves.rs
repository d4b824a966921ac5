//! Moves between shards: the workflow's rows. What a step does to the tenant is decided in
//! `moves`; this module only reads and writes `moves` and the slots a move holds.

use super::error::{Doing, StoreError};
use super::{Db, Tx};
use crate::domain::{InvalidValue, MoveId, MoveOrigin, MovePhase, ShardId, TenantId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A move as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub id: MoveId,
    pub tenant_id: TenantId,
    pub from: ShardId,
    pub to: ShardId,
    pub phase: MovePhase,
    pub requested_by: String,
    pub reason: String,
    pub origin: MoveOrigin,
    pub deadline_at: Option<DateTime<Utc>>,
    pub cancelled_by: Option<String>,
    pub cancel_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// The columns of `moves` as PostgreSQL holds them.
struct Columns {
    id: Uuid,
    tenant_id: Uuid,
    from_shard: String,
    to_shard: String,
    phase: String,
    requested_by: String,
    reason: String,
    origin: String,
    deadline_at: Option<DateTime<Utc>>,
    cancelled_by: Option<String>,
    cancel_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl TryFrom<Columns> for Move {
    type Error = StoreError;
    fn try_from(c: Columns) -> Result<Self, StoreError> {
        let column = |name: &str, e: InvalidValue| {
            StoreError::new(
                format!("reading column `{name}` of move {}", c.id),
                sqlx::Error::Decode(e.0.into()),
            )
        };
        Ok(Move {
            id: MoveId::from_uuid(c.id),
            tenant_id: TenantId::from_uuid(c.tenant_id),
            from: ShardId::try_from(c.from_shard.as_str()).map_err(|e| column("from_shard", e))?,
            to: ShardId::try_from(c.to_shard.as_str()).map_err(|e| column("to_shard", e))?,
            phase: c.phase.parse().map_err(|e| column("phase", e))?,
            requested_by: c.requested_by,
            reason: c.reason,
            origin: c.origin.parse().map_err(|e| column("origin", e))?,
            deadline_at: c.deadline_at,
            cancelled_by: c.cancelled_by,
            cancel_reason: c.cancel_reason,
            created_at: c.created_at,
            updated_at: c.updated_at,
            finished_at: c.finished_at,
        })
    }
}

/// Records a new move (phase `copying`, or `done` for one carried out at once). The unique
/// index on running moves refuses a second running move of the tenant even if a caller forgot
/// to lock it.
#[tracing::instrument(level = "debug", name = "store: insert a move", skip_all, fields(move_id = %m.id, tenant_id = %m.tenant_id))]
pub async fn insert(tx: &mut Tx, m: &Move) -> Result<(), StoreError> {
    sqlx::query!(
        r#"insert into moves (id, tenant_id, from_shard, to_shard, phase, requested_by, reason,
                              origin, deadline_at, created_at, updated_at, finished_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)"#,
        m.id.as_uuid(),
        m.tenant_id.as_uuid(),
        m.from.as_str(),
        m.to.as_str(),
        m.phase.as_str(),
        m.requested_by,
        m.reason,
        m.origin.as_str(),
        m.deadline_at,
        m.created_at,
        m.finished_at
    )
    .execute(&mut **tx)
    .await
    .doing(|| format!("recording move {} of tenant {}", m.id, m.tenant_id))?;
    Ok(())
}

/// A move, read from the pool or in a transaction (`&mut **tx`).
pub async fn get<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    id: MoveId,
) -> Result<Option<Move>, StoreError> {
    sqlx::query_as!(
        Columns,
        r#"select id, tenant_id, from_shard, to_shard, phase, requested_by, reason, origin,
                  deadline_at, cancelled_by, cancel_reason, created_at, updated_at, finished_at
           from moves where id = $1"#,
        id.as_uuid()
    )
    .fetch_optional(ex)
    .await
    .doing(|| format!("reading move {id}"))?
    .map(Move::try_from)
    .transpose()
}

/// The move of a tenant that is running, if any, in a transaction (`&mut **tx`) or from the
/// pool.
pub async fn running_of<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    tenant: TenantId,
) -> Result<Option<Move>, StoreError> {
    sqlx::query_as!(
        Columns,
        r#"select id, tenant_id, from_shard, to_shard, phase, requested_by, reason, origin,
                  deadline_at, cancelled_by, cancel_reason, created_at, updated_at, finished_at
           from moves where tenant_id = $1 and phase in ('copying', 'cutover')"#,
        tenant.as_uuid()
    )
    .fetch_optional(ex)
    .await
    .doing(|| format!("reading the running move of tenant {tenant}"))?
    .map(Move::try_from)
    .transpose()
}

/// Puts a move in `phase` at `now`; `cancelled` says by whom and why, for a cancellation.
#[tracing::instrument(level = "debug", name = "store: set a move's phase", skip_all, fields(move_id = %id, %phase))]
pub async fn set_phase(
    tx: &mut Tx,
    id: MoveId,
    phase: MovePhase,
    cancelled: Option<(&str, &str)>,
    now: DateTime<Utc>,
) -> Result<Move, StoreError> {
    let finished = (!phase.is_running()).then_some(now);
    sqlx::query_as!(
        Columns,
        r#"update moves set phase = $2, cancelled_by = $3, cancel_reason = $4, finished_at = $5
           where id = $1
           returning id, tenant_id, from_shard, to_shard, phase, requested_by, reason, origin,
                     deadline_at, cancelled_by, cancel_reason, created_at, updated_at, finished_at"#,
        id.as_uuid(),
        phase.as_str(),
        cancelled.map(|(by, _)| by),
        cancelled.map(|(_, why)| why),
        finished
    )
    .fetch_one(&mut **tx)
    .await
    .doing(|| format!("putting move {id} in phase {phase}"))?
    .try_into()
}

/// Cancels the running moves of these tenants, if any, by `by` for `why`, and frees the slots
/// they held on their targets, with one read for all of them. Returns the moves as cancelled.
#[tracing::instrument(level = "debug", name = "store: cancel running moves", skip_all, fields(tenants = tenants.len()))]
pub async fn cancel_running(
    tx: &mut Tx,
    tenants: &[TenantId],
    by: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Move>, StoreError> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let uuids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    let running = sqlx::query_as!(
        Columns,
        r#"select id, tenant_id, from_shard, to_shard, phase, requested_by, reason, origin,
                  deadline_at, cancelled_by, cancel_reason, created_at, updated_at, finished_at
           from moves where tenant_id = any($1) and phase in ('copying', 'cutover')"#,
        &uuids
    )
    .fetch_all(&mut **tx)
    .await
    .doing(|| format!("reading the running moves of {} tenants", uuids.len()))?;
    let mut cancelled = Vec::with_capacity(running.len());
    for m in running {
        let m = Move::try_from(m)?;
        super::shards::release_slots(tx, std::slice::from_ref(&m.to)).await?;
        cancelled.push(set_phase(tx, m.id, MovePhase::Cancelled, Some((by, why)), now).await?);
    }
    Ok(cancelled)
}

/// Running moves whose deadline passed, oldest deadline first, up to `limit`. Not locked: the
/// caller locks each move's tenant first, as every writer does, and reads the move again.
pub async fn overdue(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<MoveId>, StoreError> {
    let ids = sqlx::query_scalar!(
        r#"select id from moves
           where phase in ('copying', 'cutover') and deadline_at <= $1
           order by deadline_at limit $2"#,
        now,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "finding moves past their deadline".into())?;
    Ok(ids.into_iter().map(MoveId::from_uuid).collect())
}

/// Takes one slot on `shard` for a moving tenant, if the shard is open and has room; the
/// database checks the fill against the capacity, so concurrent moves and placements can
/// never overfill it.
#[tracing::instrument(level = "debug", name = "store: reserve a slot", skip_all, fields(shard = %shard))]
pub async fn reserve_slot(tx: &mut Tx, shard: &ShardId) -> Result<bool, StoreError> {
    let taken = sqlx::query_scalar!(
        r#"update shards set tenant_count = tenant_count + 1
           where id = $1 and status = 'open' and tenant_count < capacity
           returning id"#,
        shard.as_str()
    )
    .fetch_optional(&mut **tx)
    .await
    .doing(|| format!("reserving a slot on shard {shard}"))?;
    Ok(taken.is_some())
}

/// Running moves per shard, as (moving out, moving in).
pub async fn running_by_shard(
    db: &Db,
) -> Result<std::collections::HashMap<String, (i64, i64)>, StoreError> {
    let rows = sqlx::query!(
        r#"select s.id as "id!",
                  (select count(*) from moves m where m.from_shard = s.id and m.phase in ('copying', 'cutover')) as "out!",
                  (select count(*) from moves m where m.to_shard = s.id and m.phase in ('copying', 'cutover')) as "in!"
           from shards s"#
    )
    .fetch_all(db)
    .await
    .doing(|| "counting running moves per shard".into())?;
    Ok(rows.into_iter().map(|r| (r.id, (r.out, r.r#in))).collect())
}

/// Moves, newest first, up to `limit`: all, or only running ones, optionally only those out
/// of `from`.
pub async fn list(
    db: &Db,
    from: Option<&ShardId>,
    running_only: bool,
    limit: i64,
) -> Result<Vec<Move>, StoreError> {
    sqlx::query_as!(
        Columns,
        r#"select id, tenant_id, from_shard, to_shard, phase, requested_by, reason, origin,
                  deadline_at, cancelled_by, cancel_reason, created_at, updated_at, finished_at
           from moves
           where ($1::text is null or from_shard = $1)
             and (not $2 or phase in ('copying', 'cutover'))
           order by created_at desc, id
           limit $3"#,
        from.map(ShardId::as_str),
        running_only,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "listing moves".into())?
    .into_iter()
    .map(Move::try_from)
    .collect()
}

/// Up to `limit` live tenants on `shard` that no move is taking away, by id, with their
/// residency.
pub async fn movable_tenants(
    db: &Db,
    shard: &ShardId,
    limit: i64,
) -> Result<Vec<(TenantId, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"select t.id, t.residency from tenants t
           where t.shard_id = $1 and t.lifecycle <> 'DELETED'
             and not exists (select 1 from moves m where m.tenant_id = t.id and m.phase in ('copying', 'cutover'))
           order by t.id limit $2"#,
        shard.as_str(),
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| format!("finding tenants to move off shard {shard}"))?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), r.residency))
        .collect())
}

/// Live tenants that a residency learnt later left in a region it does not allow, with no
/// move running (migration `20261203000005_residency_allows.sql`), up to `limit`: who the
/// scheduler starts a residency move for.
pub async fn misplaced_tenants(db: &Db, limit: i64) -> Result<Vec<(TenantId, String)>, StoreError> {
    let rows = sqlx::query!(
        r#"select t.id, t.residency from tenants t
           where t.shard_id is not null and t.lifecycle <> 'DELETED' and t.site is not null
             and not residency_allows(t.residency, t.region)
             and not exists (select 1 from moves m where m.tenant_id = t.id and m.phase in ('copying', 'cutover'))
           order by t.id limit $1"#,
        limit
    )
    .fetch_all(db)
    .await
    .doing(|| "finding tenants in a region their residency does not allow".into())?;
    Ok(rows
        .into_iter()
        .map(|r| (TenantId::from_uuid(r.id), r.residency))
        .collect())
}

/// Whether the database's table of allowed regions says `residency` allows `region`.
pub async fn residency_allows(db: &Db, residency: &str, region: &str) -> Result<bool, StoreError> {
    sqlx::query_scalar!(
        r#"select residency_allows($1, $2) as "allows!""#,
        residency,
        region
    )
    .fetch_one(db)
    .await
    .doing(|| "asking the database which regions a residency allows".into())
}

/// Live tenants on each shard, by shard id.
pub async fn live_tenants_by_shard(
    db: &Db,
) -> Result<std::collections::HashMap<String, i64>, StoreError> {
    let rows = sqlx::query!(
        r#"select shard_id as "shard!", count(*) as "n!" from tenants
           where shard_id is not null and lifecycle <> 'DELETED' group by shard_id"#
    )
    .fetch_all(db)
    .await
    .doing(|| "counting the live tenants of each shard".into())?;
    Ok(rows.into_iter().map(|r| (r.shard, r.n)).collect())
}
