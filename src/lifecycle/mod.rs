//! The tenant lifecycle, as a pure function of a tenant's events and the current time.
//!
//! No I/O and no clock reads here: callers pass `now`. Everything the contract says about
//! states, transitions, timers and ordering (CONTRACT.md sections 3 and 4) lives in this module,
//! so it can be tested exhaustively without a database or a broker.

pub mod billing;
pub mod carry;
pub mod cause;
pub mod events;
pub mod fold;
pub mod parse;
pub mod rules;
pub mod state;
pub mod timers;

pub use carry::{Arrivals, fold};
pub use events::{Event, EventKind, EventType, MoveStep, MoveStepKind, NewTenant, RejectedEvent};
pub use fold::{Folded, Outcome, OutcomeKind, Step, StepCause};
pub use parse::Envelope;
pub use state::{LegalHold, Lifecycle, ShownState, Tenant};
pub use timers::Timer;

#[cfg(test)]
mod tests;
