//! The command line: `aladdin [serve] | migrate | create-user | seed | run | run-chain`.

use clap::{Parser, Subcommand, ValueEnum};

/// Aladdin: define, run and watch AI agents.
#[derive(Debug, Parser)]
#[command(name = "aladdin", version, about, long_about = None)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, load first-start data, and serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a user (the password is read from stdin or asked for).
    CreateUser {
        /// Email address (the login).
        #[arg(long)]
        email: String,
        /// Role of the new user.
        #[arg(long, value_enum, default_value_t = RoleArg::Editor)]
        role: RoleArg,
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Read the password from the first line of standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Insert the demo data that is missing (idempotent: a second run changes nothing).
    Seed,
    /// Run an agent once through the runner and stream its events to the terminal, the
    /// agents it spawns indented under it. Exits 0 when the run completed, 1 otherwise (with
    /// the error on stderr).
    Run(RunArgs),
    /// Run a chain once (its steps in order) and stream its events and its steps' to the
    /// terminal. Exits 0 when the chain completed, 1 otherwise (with the error on stderr).
    RunChain(RunChainArgs),
}

/// Arguments of `aladdin run-chain`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunChainArgs {
    /// The chain's chainId.
    pub chain_id: String,
    /// The prompt (the chain's `{{input}}`).
    pub prompt: String,
    /// The project the tools work on (slug or id).
    #[arg(long)]
    pub project: Option<String>,
    /// Print one JSON event per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `aladdin run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The agent's agentId, e.g. `story-head-001`.
    pub agent_id: String,
    /// The prompt.
    pub prompt: String,
    /// The project the tools work on (slug or id).
    #[arg(long)]
    pub project: Option<String>,
    /// Continue this conversation (earlier completed runs become history).
    #[arg(long)]
    pub conversation: Option<String>,
    /// Print one JSON event per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Roles as the CLI spells them.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Read-only.
    Viewer,
    /// Content and runs.
    Editor,
    /// Everything, including users and prices.
    Admin,
}

impl From<RoleArg> for crate::domain::users::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Viewer => Self::Viewer,
            RoleArg::Editor => Self::Editor,
            RoleArg::Admin => Self::Admin,
        }
    }
}
