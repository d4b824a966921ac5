//! What a follower does with a heartbeat: fetch the shard list if its digest changed, then
//! take the watermark and, when the heartbeat names them, the changes still waiting.

use super::Follower;
use crate::feed::wire::{Heartbeat, Waiting};
use crate::replica::entry;

impl Follower<'_> {
    pub(super) async fn on_heartbeat(&mut self, body: &[u8]) {
        let Ok(beat) = serde_json::from_slice::<Heartbeat>(body) else {
            tracing::warn!("The replica got a heartbeat it cannot read.");
            return;
        };
        if beat.shards != self.digest
            && let Err(error) = self.fetch_shards().await
        {
            // The watermark stays where it was: the shard list may be stale.
            tracing::warn!(%error, "The replica could not fetch the new shard list.");
            return;
        }
        self.replica.observe_heartbeat_delay(beat.watermark);
        self.replica
            .advance_watermark(beat.watermark.timestamp_millis());
        self.take_waiting(beat.waiting.as_ref());
    }

    /// A heartbeat's waiting changes, when it names them: every other tenant is as fresh as
    /// its `as_of`.
    fn take_waiting(&self, waiting: Option<&Waiting>) {
        let (Some(w), Some(base)) = (waiting, self.replica.base_domain()) else {
            return;
        };
        match entry::waiting(w, base) {
            Ok((tenants, sites)) => {
                self.replica
                    .advance_but_waiting(w.as_of.timestamp_millis(), &tenants, &sites)
            }
            Err(why) => {
                tracing::warn!(%why, "The replica got a heartbeat naming a host it cannot read; it takes its watermark only.")
            }
        }
    }
}
