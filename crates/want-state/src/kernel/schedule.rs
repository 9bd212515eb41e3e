//! The kernel's on-chain schedule: work a module wants done at a time (an order's acceptance
//! deadline, a loan's instalment, an epoch), run at the end of the first block whose time has
//! reached it.
//!
//! An entry is `sched/due/ ‖ due_ms (u64 BE) ‖ seq (u64 BE)` → borsh `(module index, payload)`,
//! so entries run in order of time, then of scheduling. Each block runs at most
//! [`DUE_PER_BLOCK_MAX`] due entries; the backlog carries over to the next blocks, never skipped.
//! An entry's work runs on its own layer: if it fails, its writes are dropped (the entry is
//! consumed all the same), so one bad entry cannot stop the chain. Nothing loops over accounts.

use want_types::{Event, ModuleId};

use crate::failure::{fail, ExecError};
use crate::kernel::context::BlockContext;
use crate::kernel::module::HookCtx;
use crate::store::{read_u64, Overlay};
use crate::{codes, StateError, StateView};

/// Prefix of every key of the schedule.
pub const PREFIX: &[u8] = b"sched/";
/// Prefix of the due entries.
pub const DUE_PREFIX: &[u8] = b"sched/due/";
/// Key of the number of entries ever scheduled.
pub const SEQ_KEY: &[u8] = b"sched/seq";
/// Most due entries one block runs.
pub const DUE_PER_BLOCK_MAX: usize = 1_000;
/// Largest payload of one entry, in bytes.
pub const PAYLOAD_BYTES_MAX: usize = 4_096;

/// Names one scheduled entry (to cancel it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct ScheduleId {
    pub due_ms: u64,
    pub seq: u64,
}

impl ScheduleId {
    fn key(&self) -> Vec<u8> {
        [
            DUE_PREFIX,
            &self.due_ms.to_be_bytes(),
            &self.seq.to_be_bytes(),
        ]
        .concat()
    }
}

/// Schedules `payload` for `module` at `due_ms` (block time).
pub(crate) fn schedule(
    ov: &mut Overlay<'_>,
    module: ModuleId,
    due_ms: u64,
    payload: Vec<u8>,
) -> Result<ScheduleId, ExecError> {
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Err(fail(
            codes::SCHEDULE_REFUSED,
            format!(
                "a scheduled entry of {} bytes; at most {PAYLOAD_BYTES_MAX}",
                payload.len()
            ),
        ));
    }
    let seq = read_u64(ov, SEQ_KEY)?;
    let next = seq.checked_add(1).ok_or_else(|| {
        fail(
            codes::SCHEDULE_REFUSED,
            "the schedule's sequence is exhausted",
        )
    })?;
    ov.put(SEQ_KEY.to_vec(), next.to_be_bytes().to_vec());
    let id = ScheduleId { due_ms, seq };
    ov.put(
        id.key(),
        borsh::to_vec(&(module.index(), payload))
            .expect("invariant: borsh encoding into a Vec cannot fail"),
    );
    Ok(id)
}

/// Removes a scheduled entry (nothing happens if it already ran).
pub(crate) fn cancel(ov: &mut Overlay<'_>, id: ScheduleId) {
    ov.delete(id.key());
}

/// Runs the entries due at the block's time, oldest first, at most [`DUE_PER_BLOCK_MAX`].
pub(crate) fn run_due(
    block: &mut Overlay<'_>,
    ctx: &BlockContext,
    events: &mut Vec<Event>,
) -> Result<usize, StateError> {
    let due = block.range(DUE_PREFIX, None, DUE_PER_BLOCK_MAX)?;
    let mut ran = 0;
    for (key, value) in due {
        let raw = key.get(DUE_PREFIX.len()..DUE_PREFIX.len() + 8);
        let due_ms = raw
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StateError::corrupt(&key, "schedule key of the wrong length"))?;
        if due_ms > ctx.timestamp_ms {
            break;
        }
        let (index, payload): (u8, Vec<u8>) = borsh::from_slice(&value)
            .map_err(|e| StateError::corrupt(&key, format!("schedule entry: {e}")))?;
        let module = ModuleId::ALL
            .iter()
            .copied()
            .find(|m| m.index() == index)
            .ok_or_else(|| StateError::corrupt(&key, format!("no module has index {index}")))?;
        block.delete(key);
        ran += 1;
        let mut layer = Overlay::new(block);
        let mut entry_events = Vec::new();
        let mut hook = HookCtx {
            state: &mut layer,
            block: ctx,
            events: &mut entry_events,
        };
        match crate::modules::on_due(module, &mut hook, &payload) {
            Ok(()) => {
                let changes = layer.into_changes();
                block.absorb(changes);
                events.append(&mut entry_events);
            }
            Err(ExecError::Tx(_)) => {}
            Err(ExecError::State(e)) => return Err(e),
        }
    }
    Ok(ran)
}

impl HookCtx<'_, '_> {
    /// Schedules more work for `module` (a hook may re-arm itself: an epoch, an instalment).
    pub fn schedule(
        &mut self,
        module: ModuleId,
        due_ms: u64,
        payload: Vec<u8>,
    ) -> Result<ScheduleId, ExecError> {
        schedule(self.state, module, due_ms, payload)
    }

    pub fn cancel(&mut self, id: ScheduleId) {
        cancel(self.state, id)
    }
}

impl crate::kernel::module::CallCtx<'_, '_> {
    /// Schedules work for `module` at `due_ms` (block time); it runs in the end-of-block hook
    /// of the first block at or after that time.
    pub fn schedule(
        &mut self,
        module: ModuleId,
        due_ms: u64,
        payload: Vec<u8>,
    ) -> Result<ScheduleId, ExecError> {
        schedule(self.state, module, due_ms, payload)
    }

    pub fn cancel(&mut self, id: ScheduleId) {
        cancel(self.state, id)
    }
}

/// The entries still waiting, oldest first (for queries and tests).
pub fn pending(
    view: &dyn StateView,
    limit: usize,
) -> Result<Vec<(ScheduleId, ModuleId)>, StateError> {
    let mut out = Vec::new();
    for (key, value) in view.range(DUE_PREFIX, None, limit)? {
        let tail = key.get(DUE_PREFIX.len()..).unwrap_or_default();
        let (Ok(due), Ok(seq)) = (
            <[u8; 8]>::try_from(tail.get(..8).unwrap_or_default()),
            <[u8; 8]>::try_from(tail.get(8..).unwrap_or_default()),
        ) else {
            return Err(StateError::corrupt(
                &key,
                "schedule key of the wrong length",
            ));
        };
        let (index, _): (u8, Vec<u8>) = borsh::from_slice(&value)
            .map_err(|e| StateError::corrupt(&key, format!("schedule entry: {e}")))?;
        let module = ModuleId::ALL
            .iter()
            .copied()
            .find(|m| m.index() == index)
            .ok_or_else(|| StateError::corrupt(&key, format!("no module has index {index}")))?;
        out.push((
            ScheduleId {
                due_ms: u64::from_be_bytes(due),
                seq: u64::from_be_bytes(seq),
            },
            module,
        ));
    }
    Ok(out)
}
