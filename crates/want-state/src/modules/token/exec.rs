//! Execution of token calls on an overlay. Every amount is checked: an overflow is the failure
//! `amount_overflow`, never a wrap or a panic. The caller discards the overlay on failure.

use want_types::{Address, Amount, ChainParams, TokenCall, TokenEvent};

use super::codes;
use super::state::{allowance, balance, burned, set_allowance, set_balance, set_burned};
use crate::failure::{fail, overflow, ExecError};
use crate::kernel::module::{CallCtx, Mode};
use crate::store::Overlay;

/// Takes `amount` from `addr`, failing with `code` (and have/need in base units) when short.
pub fn debit(
    ov: &mut Overlay<'_>,
    addr: &Address,
    amount: Amount,
    code: &'static str,
) -> Result<(), ExecError> {
    let have = balance(ov, addr)?;
    let Some(left) = have.checked_sub(amount) else {
        return Err(fail(
            code,
            format!("{addr} has {have} base units, needs {amount}"),
        ));
    };
    set_balance(ov, addr, left);
    Ok(())
}

/// Adds `amount` to `addr`.
pub fn credit(
    ov: &mut Overlay<'_>,
    addr: &Address,
    amount: Amount,
) -> Result<(), ExecError> {
    let have = balance(ov, addr)?;
    let new = have
        .checked_add(amount)
        .ok_or_else(|| overflow(&format!("balance of {addr}")))?;
    set_balance(ov, addr, new);
    Ok(())
}

/// The transfer fee on `amount` and the total the payer needs (amount + fee).
fn fee_and_total(params: &ChainParams, amount: Amount) -> Result<(Amount, Amount), ExecError> {
    let fee = params
        .transfer_fee(amount)
        .ok_or_else(|| overflow("transfer fee"))?;
    let total = amount
        .checked_add(fee)
        .ok_or_else(|| overflow("amount plus transfer fee"))?;
    Ok((fee, total))
}

/// Applies one token call. In [`Mode::Admit`] the credits (receiver, pool, burned total) are
/// left out: the whole supply was allocated at genesis, so no balance or total can overflow and
/// a credit cannot fail; what can fail (balances and allowances short) is checked as always.
pub(crate) fn execute(ctx: &mut CallCtx<'_, '_>, call: &TokenCall) -> Result<(), ExecError> {
    let sender = ctx.sender;
    let params = &ctx.block.params;
    let credits = ctx.mode == Mode::Execute;
    let mut events = Vec::new();
    let ov = &mut *ctx.state;
    match call {
        TokenCall::Transfer { to, amount } => {
            move_with_fee(ov, params, &sender, to, *amount, credits, &mut events)?;
        }
        TokenCall::Approve { spender, amount } => {
            set_allowance(ov, &sender, spender, *amount);
            events.push(TokenEvent::Approval {
                owner: sender,
                spender: *spender,
                value: *amount,
            });
        }
        TokenCall::TransferFrom { from, to, amount } => {
            let (_, total) = fee_and_total(params, *amount)?;
            let allowed = allowance(ov, from, &sender)?;
            let Some(left) = allowed.checked_sub(total) else {
                return Err(fail(
                    codes::INSUFFICIENT_ALLOWANCE,
                    format!(
                        "{sender} may spend {allowed} base units of {from}, needs {total} (amount {amount} plus transfer fee)"
                    ),
                ));
            };
            move_with_fee(ov, params, from, to, *amount, credits, &mut events)?;
            set_allowance(ov, from, &sender, left);
            events.push(TokenEvent::Approval {
                owner: *from,
                spender: sender,
                value: left,
            });
        }
        TokenCall::Burn { amount } => {
            debit(ov, &sender, *amount, codes::INSUFFICIENT_BALANCE)?;
            if credits {
                let total = burned(ov)?
                    .checked_add(*amount)
                    .ok_or_else(|| overflow("total burned"))?;
                set_burned(ov, total);
            }
            events.push(TokenEvent::Burn {
                from: sender,
                value: *amount,
            });
        }
    }
    for e in events {
        ctx.emit(e);
    }
    Ok(())
}

/// Moves `amount` from `from` to `to` and the transfer fee from `from` to the pool (only the
/// debit without `credits`).
fn move_with_fee(
    ov: &mut Overlay<'_>,
    params: &ChainParams,
    from: &Address,
    to: &Address,
    amount: Amount,
    credits: bool,
    events: &mut Vec<TokenEvent>,
) -> Result<(), ExecError> {
    let (fee, total) = fee_and_total(params, amount)?;
    debit(ov, from, total, codes::INSUFFICIENT_BALANCE)?;
    if credits {
        credit(ov, to, amount)?;
        credit(ov, &params.incentive_pool, fee)?;
    }
    events.push(TokenEvent::Transfer {
        from: *from,
        to: *to,
        value: amount,
    });
    if fee > 0 {
        events.push(TokenEvent::Transfer {
            from: *from,
            to: params.incentive_pool,
            value: fee,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::modules::token::codes;
    use crate::testutil::*;
    use crate::{query, MemState};
    use want_types::{Address, Amount, Event, Receipt, TokenCall, TokenEvent};

    const START: Amount = 1_000_000;

    /// Runs `call` from `sender` paying the minimum fee with the sender's current nonce.
    fn call(ms: &mut MemState, sender: Address, call: TokenCall) -> Receipt {
        let n = query::nonce(ms, &sender).unwrap();
        run1(ms, sender, tx(n, call))
    }

    fn bal(ms: &MemState, a: Address) -> Amount {
        query::balance(ms, &a).unwrap()
    }

    /// Token events after the fee event.
    fn call_events(r: &Receipt) -> Vec<TokenEvent> {
        r.events[1..]
            .iter()
            .map(|e| match e {
                Event::Token(e) => e.clone(),
                other => panic!("not a token event: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn transfer_moves_amount_and_one_percent_fee_to_the_pool() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        let r = call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: b,
                amount: 10_000,
            },
        );
        assert!(r.is_success(), "{r:?}");
        assert_eq!(bal(&ms, b), 10_000);
        assert_eq!(bal(&ms, a), START - MIN_FEE - 10_000 - 100);
        assert_eq!(bal(&ms, pool()), MIN_FEE + 100);
        assert_eq!(
            call_events(&r),
            &[
                TokenEvent::Transfer {
                    from: a,
                    to: b,
                    value: 10_000
                },
                TokenEvent::Transfer {
                    from: a,
                    to: pool(),
                    value: 100
                },
            ]
        );
    }

    #[test]
    fn transfer_fee_rounds_up_so_splitting_saves_nothing() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        call(&mut ms, a, TokenCall::Transfer { to: b, amount: 199 });
        assert_eq!(bal(&ms, pool()), MIN_FEE + 2);
        call(&mut ms, a, TokenCall::Transfer { to: b, amount: 1 });
        assert_eq!(bal(&ms, pool()), 2 * MIN_FEE + 3);
    }

    #[test]
    fn transfer_of_zero_has_no_fee_event() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        let r = call(&mut ms, a, TokenCall::Transfer { to: b, amount: 0 });
        assert_eq!(
            call_events(&r),
            &[TokenEvent::Transfer {
                from: a,
                to: b,
                value: 0
            }]
        );
    }

    #[test]
    fn transfer_above_balance_fails_and_changes_no_balance_but_the_fee() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        // Exactly the balance left after the fee is not enough: the 1 % comes on top.
        let r = call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: b,
                amount: START - MIN_FEE,
            },
        );
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        let need = (START - MIN_FEE) + (START - MIN_FEE).div_ceil(100);
        assert!(
            message(&r).contains(&format!("has {} base units, needs {need}", START - MIN_FEE)),
            "{}",
            message(&r)
        );
        assert_eq!(bal(&ms, a), START - MIN_FEE);
        assert_eq!(bal(&ms, b), 0);
        assert_eq!(bal(&ms, pool()), MIN_FEE);
    }

    #[test]
    fn transfer_of_entire_balance_including_fee_empties_and_deletes_the_account() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, MIN_FEE + 10_100)]);
        assert!(call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: b,
                amount: 10_000
            }
        )
        .is_success());
        assert_eq!(bal(&ms, a), 0);
        assert!(!ms.0.contains_key(&crate::token::state::balance_key(&a)));
    }

    #[test]
    fn self_transfer_only_loses_the_fee() {
        let a = addr(1);
        let mut ms = state_with(&[(a, START)]);
        let r = call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: a,
                amount: 50_000,
            },
        );
        assert!(r.is_success(), "{r:?}");
        assert_eq!(bal(&ms, a), START - MIN_FEE - 500);
    }

    #[test]
    fn transfer_whose_fee_overflows_fails_with_amount_overflow() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        let r = call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: b,
                amount: u128::MAX,
            },
        );
        assert_eq!(code(&r), ("failed", crate::codes::AMOUNT_OVERFLOW));
        // The largest amount whose fee is computable is merely more than anyone has.
        let r = call(
            &mut ms,
            a,
            TokenCall::Transfer {
                to: b,
                amount: u128::MAX / 100,
            },
        );
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        assert_eq!(bal(&ms, a), START - 2 * MIN_FEE);
        assert_eq!(query::nonce(&ms, &a).unwrap(), 2);
    }

    #[test]
    fn approve_sets_the_allowance_and_zero_removes_it() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, START)]);
        let r = call(
            &mut ms,
            a,
            TokenCall::Approve {
                spender: b,
                amount: u128::MAX,
            },
        );
        assert_eq!(
            call_events(&r),
            &[TokenEvent::Approval {
                owner: a,
                spender: b,
                value: u128::MAX
            }]
        );
        assert_eq!(query::allowance(&ms, &a, &b).unwrap(), u128::MAX);
        assert_eq!(query::allowance(&ms, &b, &a).unwrap(), 0);
        call(
            &mut ms,
            a,
            TokenCall::Approve {
                spender: b,
                amount: 0,
            },
        );
        assert!(!ms
            .0
            .contains_key(&crate::token::state::allowance_key(&a, &b)));
    }

    #[test]
    fn transfer_from_spends_allowance_for_amount_plus_fee_paid_by_owner() {
        let (owner, spender, to) = (addr(1), addr(2), addr(3));
        let mut ms = state_with(&[(owner, START), (spender, START)]);
        call(
            &mut ms,
            owner,
            TokenCall::Approve {
                spender,
                amount: 20_000,
            },
        );
        let r = call(
            &mut ms,
            spender,
            TokenCall::TransferFrom {
                from: owner,
                to,
                amount: 10_000,
            },
        );
        assert!(r.is_success(), "{r:?}");
        assert_eq!(bal(&ms, to), 10_000);
        assert_eq!(bal(&ms, owner), START - MIN_FEE - 10_100);
        assert_eq!(bal(&ms, spender), START - MIN_FEE);
        assert_eq!(
            query::allowance(&ms, &owner, &spender).unwrap(),
            20_000 - 10_100
        );
        assert_eq!(
            call_events(&r),
            &[
                TokenEvent::Transfer {
                    from: owner,
                    to,
                    value: 10_000
                },
                TokenEvent::Transfer {
                    from: owner,
                    to: pool(),
                    value: 100
                },
                TokenEvent::Approval {
                    owner,
                    spender,
                    value: 9_900
                },
            ]
        );
    }

    #[test]
    fn transfer_from_beyond_allowance_fails_and_keeps_the_allowance() {
        let (owner, spender, to) = (addr(1), addr(2), addr(3));
        let mut ms = state_with(&[(owner, START), (spender, START)]);
        // Allowance covers the amount but not the fee on top.
        call(
            &mut ms,
            owner,
            TokenCall::Approve {
                spender,
                amount: 10_000,
            },
        );
        let r = call(
            &mut ms,
            spender,
            TokenCall::TransferFrom {
                from: owner,
                to,
                amount: 10_000,
            },
        );
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_ALLOWANCE));
        assert_eq!(query::allowance(&ms, &owner, &spender).unwrap(), 10_000);
        assert_eq!(bal(&ms, owner), START - MIN_FEE);
        assert_eq!(bal(&ms, to), 0);
        assert_eq!(bal(&ms, spender), START - MIN_FEE);
        assert_eq!(query::nonce(&ms, &spender).unwrap(), 1);
    }

    #[test]
    fn transfer_from_without_any_approval_fails_even_for_the_owner() {
        let (owner, to) = (addr(1), addr(3));
        let mut ms = state_with(&[(owner, START)]);
        let r = call(
            &mut ms,
            owner,
            TokenCall::TransferFrom {
                from: owner,
                to,
                amount: 1,
            },
        );
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_ALLOWANCE));
    }

    #[test]
    fn transfer_from_beyond_owner_balance_fails_and_keeps_the_allowance() {
        let (owner, spender, to) = (addr(1), addr(2), addr(3));
        let mut ms = state_with(&[(owner, START), (spender, START)]);
        call(
            &mut ms,
            owner,
            TokenCall::Approve {
                spender,
                amount: u128::MAX,
            },
        );
        let r = call(
            &mut ms,
            spender,
            TokenCall::TransferFrom {
                from: owner,
                to,
                amount: START,
            },
        );
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        assert_eq!(query::allowance(&ms, &owner, &spender).unwrap(), u128::MAX);
        assert_eq!(bal(&ms, owner), START - MIN_FEE);
        assert_eq!(bal(&ms, to), 0);
    }

    #[test]
    fn transfer_from_of_u128_max_fails_with_amount_overflow() {
        let (owner, spender) = (addr(1), addr(2));
        let mut ms = state_with(&[(owner, START), (spender, START)]);
        call(
            &mut ms,
            owner,
            TokenCall::Approve {
                spender,
                amount: u128::MAX,
            },
        );
        let r = call(
            &mut ms,
            spender,
            TokenCall::TransferFrom {
                from: owner,
                to: spender,
                amount: u128::MAX,
            },
        );
        assert_eq!(code(&r), ("failed", crate::codes::AMOUNT_OVERFLOW));
        assert_eq!(query::allowance(&ms, &owner, &spender).unwrap(), u128::MAX);
    }

    #[test]
    fn burn_destroys_tokens_and_records_them() {
        let a = addr(1);
        let mut ms = state_with(&[(a, START)]);
        let r = call(&mut ms, a, TokenCall::Burn { amount: 300 });
        assert_eq!(
            call_events(&r),
            &[TokenEvent::Burn {
                from: a,
                value: 300
            }]
        );
        call(&mut ms, a, TokenCall::Burn { amount: 200 });
        assert_eq!(query::burned(&ms).unwrap(), 500);
        assert_eq!(bal(&ms, a), START - 2 * MIN_FEE - 500);
        assert_eq!(
            query::total_supply(&ms).unwrap(),
            want_types::amount::TOTAL_SUPPLY
        );
        assert_eq!(
            query::circulating_supply(&ms).unwrap(),
            want_types::amount::TOTAL_SUPPLY - 500
        );
        assert!(crate::audit_supply(&ms).unwrap().holds());
    }

    #[test]
    fn burn_above_balance_fails_and_burns_nothing() {
        let a = addr(1);
        let mut ms = state_with(&[(a, START)]);
        let r = call(&mut ms, a, TokenCall::Burn { amount: START });
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        let r = call(&mut ms, a, TokenCall::Burn { amount: u128::MAX });
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        assert_eq!(query::burned(&ms).unwrap(), 0);
        assert_eq!(bal(&ms, a), START - 2 * MIN_FEE);
    }

    /// A state no genesis can produce, to reach the overflow guards on credits.
    fn raw_state(entries: &[(Vec<u8>, Amount)]) -> MemState {
        let mut ms = MemState::new();
        for (k, v) in entries {
            ms.0.insert(k.clone(), v.to_be_bytes().to_vec());
        }
        ms
    }

    #[test]
    fn credit_past_u128_fails_the_call_with_amount_overflow() {
        use crate::token::state::{balance_key, BURNED_KEY};
        let (a, b) = (addr(1), addr(2));
        let mut ms = raw_state(&[(balance_key(&a), START), (balance_key(&b), u128::MAX)]);
        let r = call(&mut ms, a, TokenCall::Transfer { to: b, amount: 1 });
        assert_eq!(code(&r), ("failed", crate::codes::AMOUNT_OVERFLOW));
        assert_eq!(bal(&ms, b), u128::MAX);
        ms.0.insert(BURNED_KEY.to_vec(), u128::MAX.to_be_bytes().to_vec());
        let r = call(&mut ms, a, TokenCall::Burn { amount: 1 });
        assert_eq!(code(&r), ("failed", crate::codes::AMOUNT_OVERFLOW));
        assert_eq!(bal(&ms, a), START - 2 * MIN_FEE);
    }

    #[test]
    fn fee_that_cannot_be_credited_to_the_pool_rejects_the_transaction() {
        use crate::token::state::balance_key;
        let a = addr(1);
        let mut ms = raw_state(&[(balance_key(&a), START), (balance_key(&pool()), u128::MAX)]);
        let r = call(&mut ms, a, TokenCall::Burn { amount: 1 });
        assert_eq!(code(&r), ("rejected", crate::codes::AMOUNT_OVERFLOW));
        assert_eq!(r.fee_paid, 0);
        assert_eq!(bal(&ms, a), START);
        assert_eq!(query::nonce(&ms, &a).unwrap(), 0);
    }
}
