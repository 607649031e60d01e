//! The official client, `@payloadcms/sdk`, driving a started server: login, find with
//! where / sort / limit / page, findByID, create, update, delete, count, an invalid create,
//! refresh-token (the client's original token keeps working) and logout of one token (the
//! refreshed one keeps working); see `payload_sdk.mjs`. Needs `node` and `npm`: skipped
//! without them, except in CI (`CI` set), where their absence fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use aladdin::domain::users::Role;

use crate::helpers::{TestOptions, spawn_app_with};

/// The SDK version the test pins.
const SDK_VERSION: &str = "3.90.1";

fn tool_available(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `target/payload-sdk-<version>` with the SDK installed (installed once, then reused).
fn sdk_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join(format!("payload-sdk-{SDK_VERSION}"));
    let marker = dir.join("node_modules/@payloadcms/sdk/package.json");
    let installed = std::fs::read_to_string(&marker)
        .is_ok_and(|p| p.contains(&format!("\"version\": \"{SDK_VERSION}\"")));
    if !installed {
        std::fs::create_dir_all(&dir).expect("sdk dir");
        std::fs::write(
            dir.join("package.json"),
            r#"{"name":"aladdin-sdk-test","private":true,"type":"module"}"#,
        )
        .expect("package.json");
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
                "--no-package-lock",
            ])
            .arg(format!("@payloadcms/sdk@{SDK_VERSION}"))
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(
            status.success(),
            "npm install @payloadcms/sdk@{SDK_VERSION} failed"
        );
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_payload_sdk_works_against_the_server() {
    if !(tool_available("node") && tool_available("npm")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "node and npm are required in CI"
        );
        eprintln!("skipped: node/npm not found");
        return;
    }
    // Arrange
    let dir = tokio::task::spawn_blocking(sdk_dir).await.expect("install");
    let script = dir.join("run.mjs");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/api/payload_sdk.mjs"),
        &script,
    )
    .expect("script copied");
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    super::user_with_password(&app, Role::Admin, "sdk@example.com", "sdk password 123").await;
    let base_url = format!("{}/api", app.address);
    // Act
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .args([base_url.as_str(), "sdk@example.com", "sdk password 123"])
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .expect("joined");
    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
