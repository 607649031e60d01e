//! What each CLI command does, on top of the same modules the server uses.

mod run;

use std::io::BufRead;

use anyhow::Context as _;
use secrecy::SecretString;

use crate::{
    auth::password,
    cli::{Command, RoleArg},
    config::Settings,
    db,
    domain::users::{MIN_PASSWORD_LEN, UserInput},
    error::AppError,
    seed,
    startup::{Application, connect_and_migrate},
};

/// Runs one command to completion.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            connect_and_migrate(&settings).await?;
            println!(
                "migrations applied to {}",
                db::redact_url(&settings.database.url)
            );
            Ok(())
        }
        Command::CreateUser {
            email,
            role,
            name,
            password_stdin,
        } => create_user(settings, email, role, name, password_stdin).await,
        Command::Seed => {
            let db = connect_and_migrate(&settings).await?;
            let report = seed::run(&db).await?;
            if report.is_empty() {
                println!("demo data already present: nothing to do");
            } else {
                println!("inserted {report}");
            }
            Ok(())
        }
        Command::Run(args) => run::run_agent(settings, args).await,
        Command::RunChain(args) => run::run_chain(settings, args).await,
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "listening");
    app.run_until_stopped().await.context("server error")
}

async fn create_user(
    settings: Settings,
    email: String,
    role: RoleArg,
    name: String,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let secret = read_password(password_stdin)?;
    let doc = serde_json::json!({
        "email": email,
        "name": name,
        "role": crate::domain::users::Role::from(role).as_str(),
        "password": secret,
    });
    let input = UserInput::from_json(&doc, true).map_err(one_line)?;
    let db = connect_and_migrate(&settings).await?;
    let hash = password::hash(SecretString::from(secret)).await?;
    let user = db::users::create_with_password(&db, &input.email, &input.name, input.role, hash)
        .await
        .map_err(one_line)?;
    println!("created {} ({}) with id {}", user.email, user.role, user.id);
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read the password")?;
        anyhow::ensure!(first == again, "the passwords do not match");
        first
    };
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_LEN,
        "the password must be at least {MIN_PASSWORD_LEN} characters"
    );
    Ok(password)
}

/// Validation errors as one line: `email: Value must be unique.`
fn one_line(e: AppError) -> anyhow::Error {
    match e {
        AppError::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!("{other}"),
    }
}
