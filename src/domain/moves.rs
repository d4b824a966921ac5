//! Routing status and the phases of a move (CONTRACT.md section 7, "Routing epochs and moves").

use super::InvalidValue;
use std::fmt;

/// Whether a tenant's route may take writes, as a caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteStatus {
    /// Served read-write where the route says.
    #[default]
    Online,
    /// Still served read-write on its shard while a move copies its data elsewhere.
    Moving,
    /// Served read-only on the source shard while a move cuts over.
    ReadOnly,
}

impl RouteStatus {
    pub const ALL: [RouteStatus; 3] = [
        RouteStatus::Online,
        RouteStatus::Moving,
        RouteStatus::ReadOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteStatus::Online => "ONLINE",
            RouteStatus::Moving => "MOVING",
            RouteStatus::ReadOnly => "READ_ONLY",
        }
    }
}

impl std::str::FromStr for RouteStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "route status must be ONLINE, MOVING or READ_ONLY, got `{s}`"
                ))
            })
    }
}

impl fmt::Display for RouteStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a move stands: `copying` → `cutover` → `done`, or `cancelled` before `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MovePhase {
    /// The data plane copies the tenant's data to the target; the source serves as before.
    Copying,
    /// The source is read-only while the data plane finishes and switches over.
    Cutover,
    /// The tenant is served from the target; the source's slot is free.
    Done,
    /// Given up before `done`; the tenant stays on the source and the target's slot is free.
    Cancelled,
}

impl MovePhase {
    pub const ALL: [MovePhase; 4] = [
        MovePhase::Copying,
        MovePhase::Cutover,
        MovePhase::Done,
        MovePhase::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovePhase::Copying => "copying",
            MovePhase::Cutover => "cutover",
            MovePhase::Done => "done",
            MovePhase::Cancelled => "cancelled",
        }
    }

    /// Whether the move still runs (holds a slot on both shards).
    pub fn is_running(self) -> bool {
        matches!(self, MovePhase::Copying | MovePhase::Cutover)
    }

    /// The phase `advance` leads to; `None` once the move has ended.
    pub fn next(self) -> Option<MovePhase> {
        match self {
            MovePhase::Copying => Some(MovePhase::Cutover),
            MovePhase::Cutover => Some(MovePhase::Done),
            MovePhase::Done | MovePhase::Cancelled => None,
        }
    }

    /// The tenant's routing status while the move is in this phase.
    pub fn route_status(self) -> RouteStatus {
        match self {
            MovePhase::Copying => RouteStatus::Moving,
            MovePhase::Cutover => RouteStatus::ReadOnly,
            MovePhase::Done | MovePhase::Cancelled => RouteStatus::Online,
        }
    }
}

impl std::str::FromStr for MovePhase {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "move phase must be copying, cutover, done or cancelled, got `{s}`"
                ))
            })
    }
}

impl fmt::Display for MovePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who started a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveOrigin {
    /// `POST /admin/v1/tenants/{id}/moves`.
    Admin,
    /// The drain of the source shard.
    Drain,
    /// A residency that no longer allows the tenant's region.
    Residency,
}

impl MoveOrigin {
    pub const ALL: [MoveOrigin; 3] = [MoveOrigin::Admin, MoveOrigin::Drain, MoveOrigin::Residency];

    pub fn as_str(self) -> &'static str {
        match self {
            MoveOrigin::Admin => "admin",
            MoveOrigin::Drain => "drain",
            MoveOrigin::Residency => "residency",
        }
    }
}

impl std::str::FromStr for MoveOrigin {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "move origin must be admin, drain or residency, got `{s}`"
                ))
            })
    }
}

impl fmt::Display for MoveOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_advances_copying_cutover_done_and_ends_there() {
        assert_eq!(MovePhase::Copying.next(), Some(MovePhase::Cutover));
        assert_eq!(MovePhase::Cutover.next(), Some(MovePhase::Done));
        assert_eq!(MovePhase::Done.next(), None);
        assert_eq!(MovePhase::Cancelled.next(), None);
        let running: Vec<_> = MovePhase::ALL
            .into_iter()
            .filter(|p| p.is_running())
            .collect();
        assert_eq!(running, [MovePhase::Copying, MovePhase::Cutover]);
    }

    #[test]
    fn the_route_is_read_only_during_cutover_only() {
        let statuses: Vec<_> = MovePhase::ALL
            .into_iter()
            .map(MovePhase::route_status)
            .collect();
        assert_eq!(
            statuses,
            [
                RouteStatus::Moving,
                RouteStatus::ReadOnly,
                RouteStatus::Online,
                RouteStatus::Online
            ]
        );
    }

    #[test]
    fn names_parse_back() {
        for s in RouteStatus::ALL {
            assert_eq!(s.as_str().parse::<RouteStatus>(), Ok(s));
        }
        for p in MovePhase::ALL {
            assert_eq!(p.as_str().parse::<MovePhase>(), Ok(p));
        }
        for o in MoveOrigin::ALL {
            assert_eq!(o.as_str().parse::<MoveOrigin>(), Ok(o));
        }
        assert!("online".parse::<RouteStatus>().is_err());
        assert!("finished".parse::<MovePhase>().is_err());
    }
}
