//! The modules of the state machine and their one registration each.
//!
//! `register_modules!` declares each module's folder and generates the kernel's dispatch over
//! `want_types::Call`: a module whose `Call` variant exists in `want_types` but that is missing
//! here is a non-exhaustive `match` — the build fails. The module type of folder `x` is
//! `x::X`, named as its `Call` variant.

use serde_json::Value;
use want_types::{Amount, Call, ChainParams, ModuleId};

use crate::failure::ExecError;
use crate::kernel::module::{CallCtx, GenesisCtx, HookCtx, Module, ModuleInfo};
use crate::StateError;

macro_rules! register_modules {
    ($( $(#[$attr:meta])* $name:ident :: $Variant:ident ),* $(,)?) => {
        $( $(#[$attr])* pub mod $name; )*

        /// Every registered module, in registration order.
        pub const MODULES: &[ModuleInfo] = &[
            $( $(#[$attr])* ModuleInfo {
                id: <$name::$Variant as Module>::ID,
                codes: <$name::$Variant as Module>::codes,
            }, )*
        ];

        pub(crate) fn execute(ctx: &mut CallCtx<'_, '_>, call: &Call) -> Result<(), ExecError> {
            match call { $( $(#[$attr])* Call::$Variant(c) => <$name::$Variant as Module>::execute(ctx, c), )* }
        }

        pub(crate) fn admit(ctx: &mut CallCtx<'_, '_>, call: &Call) -> Result<(), ExecError> {
            match call { $( $(#[$attr])* Call::$Variant(c) => <$name::$Variant as Module>::admit(ctx, c), )* }
        }

        /// See `Module::max_spend`.
        pub fn max_spend(params: &ChainParams, call: &Call) -> Result<Amount, ExecError> {
            match call { $( $(#[$attr])* Call::$Variant(c) => <$name::$Variant as Module>::max_spend(params, c), )* }
        }

        /// See `Module::weight`.
        pub fn call_weight(call: &Call) -> u64 {
            match call { $( $(#[$attr])* Call::$Variant(c) => <$name::$Variant as Module>::weight(c), )* }
        }

        pub(crate) fn genesis(module: ModuleId, ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
            match module { $( $(#[$attr])* ModuleId::$Variant => <$name::$Variant as Module>::genesis(ctx), )* }
        }

        /// The bytes of a module's genesis section in the genesis hash.
        pub fn genesis_spec_bytes(module: ModuleId, section: &Value) -> Result<Vec<u8>, StateError> {
            match module { $( $(#[$attr])* ModuleId::$Variant => <$name::$Variant as Module>::genesis_spec_bytes(section), )* }
        }

        pub(crate) fn on_due(module: ModuleId, ctx: &mut HookCtx<'_, '_>, payload: &[u8]) -> Result<(), ExecError> {
            match module { $( $(#[$attr])* ModuleId::$Variant => <$name::$Variant as Module>::on_due(ctx, payload), )* }
        }

        pub(crate) fn end_block(module: ModuleId, ctx: &mut HookCtx<'_, '_>) -> Result<(), ExecError> {
            match module { $( $(#[$attr])* ModuleId::$Variant => <$name::$Variant as Module>::end_block(ctx), )* }
        }
    };
}

/// Every code of the state machine, with who defines it (`kernel` or a module's name).
pub fn all_codes() -> Vec<(&'static str, &'static crate::codes::ErrorCode)> {
    let mut out: Vec<(&'static str, &'static crate::codes::ErrorCode)> =
        crate::codes::KERNEL.iter().map(|c| ("kernel", c)).collect();
    for m in MODULES {
        out.extend((m.codes)().iter().map(|c| (m.id.name(), c)));
    }
    out
}

// The registry: one line per module, in the order of `want_types::modules`.
register_modules! {
    token::Token,
    trace::Trace,
    commerce::Commerce,
    credit::Credit,
    #[cfg(feature = "example-module")]
    example::Example,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_with_an_http_status() {
        let seen = crate::codes::check_registry(all_codes()).unwrap();
        for m in MODULES {
            assert!(
                seen.values().any(|owner| *owner == m.id.name()),
                "module {} lists no code",
                m.id.name()
            );
        }
        // The checker refuses a code defined twice.
        let twice = [
            ("a", &crate::codes::KERNEL[0]),
            ("b", &crate::codes::KERNEL[0]),
        ];
        let e = crate::codes::check_registry(twice).unwrap_err();
        let code = crate::codes::KERNEL[0].code;
        assert_eq!(e, format!("{code} is defined by a and by b"));
    }

    #[test]
    fn every_module_of_the_wire_registry_is_registered_once_under_its_own_id() {
        let ids: Vec<ModuleId> = MODULES.iter().map(|m| m.id).collect();
        assert_eq!(ids, ModuleId::ALL.to_vec());
        for m in MODULES {
            assert_eq!(m.prefix(), format!("{}/", m.id.name()).into_bytes());
        }
    }
}
