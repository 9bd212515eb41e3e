//! The token module: `want tx transfer|approve|transfer-from|burn` (signed through
//! `crate::signer`) and `want account`.

use clap::Subcommand;
use want_types::amount::parse_want;
use want_types::{Address, Call, TokenCall};

use crate::client::Client;
use crate::output::{CliError, Out};
use crate::signer::{sign_and_send, Profile, SignArgs};
use crate::NodeArg;

#[derive(Subcommand)]
pub enum Command {
    /// Balance and nonce of an account.
    Account {
        address: String,
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Subcommand)]
pub enum TxCommand {
    /// Send WANT (amount in WANT, up to 6 decimals; 1 % transfer fee goes to the incentive pool).
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Allow a spender to move up to an amount of your WANT (TRC20 approve).
    Approve {
        #[arg(long)]
        spender: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Move WANT from an account that approved you (TRC20 transferFrom).
    TransferFrom {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Destroy WANT for good.
    Burn {
        #[arg(long)]
        amount: String,
        #[command(flatten)]
        sign: SignArgs,
    },
}

fn address(s: &str, field: &str) -> anyhow::Result<Address> {
    crate::output::parse_address(s, &format!("--{field}"))
}

fn amount(s: &str, field: &str) -> anyhow::Result<u128> {
    parse_want(s).map_err(|e| {
        CliError::new(
            "invalid_amount",
            format!("--{field}: {e}; give WANT with up to 6 decimals, e.g. 12.5"),
        )
        .into()
    })
}

/// An amount that moves value: zero would only pay the fee for nothing (an approval of zero is
/// meaningful: it withdraws an allowance, and takes [`amount`]).
fn positive_amount(s: &str, field: &str) -> anyhow::Result<u128> {
    let a = amount(s, field)?;
    if a == 0 {
        return Err(CliError::new(
            "invalid_amount",
            format!("--{field}: 0 moves nothing and would still pay the fee; give more than 0 WANT"),
        )
        .into());
    }
    Ok(a)
}

pub fn run(cmd: Command, out: &Out) -> anyhow::Result<()> {
    match cmd {
        Command::Account { address, node } => {
            address
                .parse::<Address>()
                .map_err(|e| CliError::new("invalid_address", e.to_string()))?;
            let v = Client::new(&node.url)?.get(&format!("/v1/accounts/{address}"))?;
            out.value(&v, |v| {
                format!(
                    "address  {}\nbalance  {} WANT ({} base units)\nnonce    {} (next pending {})",
                    v["address"].as_str().unwrap_or_default(),
                    v["balance_want"].as_str().unwrap_or_default(),
                    v["balance"].as_str().unwrap_or_default(),
                    v["nonce"],
                    v["pending_nonce"]
                )
            });
            Ok(())
        }
    }
}

pub fn run_tx(cmd: TxCommand, out: &Out) -> anyhow::Result<()> {
    let (call, sign) = match cmd {
        TxCommand::Transfer {
            to,
            amount: a,
            sign,
        } => (
            TokenCall::Transfer {
                to: address(&to, "to")?,
                amount: positive_amount(&a, "amount")?,
            },
            sign,
        ),
        TxCommand::Approve {
            spender,
            amount: a,
            sign,
        } => (
            TokenCall::Approve {
                spender: address(&spender, "spender")?,
                amount: amount(&a, "amount")?,
            },
            sign,
        ),
        TxCommand::TransferFrom {
            from,
            to,
            amount: a,
            sign,
        } => (
            TokenCall::TransferFrom {
                from: address(&from, "from")?,
                to: address(&to, "to")?,
                amount: positive_amount(&a, "amount")?,
            },
            sign,
        ),
        TxCommand::Burn { amount: a, sign } => (
            TokenCall::Burn {
                amount: positive_amount(&a, "amount")?,
            },
            sign,
        ),
    };
    sign_and_send(Call::Token(call), sign, Profile::send(), out)
}
