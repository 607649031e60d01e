//! The price table: administrators change it.

use aladdin::{db, domain::users::Role, entities::models};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::sign_in_as;
use crate::helpers::spawn_app;

#[tokio::test]
async fn an_admin_adds_and_edits_a_price() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let created = admin
        .post(
            "/admin/models",
            &[
                ("modelId", "acme/brainy-1"),
                ("provider", "openrouter"),
                ("inputPricePerMTok", "1.5"),
                ("outputPricePerMTok", "6"),
                ("contextWindow", "128000"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303);
    let row = models::Entity::find()
        .filter(models::Column::ModelId.eq("acme/brainy-1"))
        .one(&app.db)
        .await
        .expect("q")
        .expect("created");
    assert_eq!(row.input_price_per_mtok, 1.5);
    let edited = admin
        .post(
            &format!("/admin/models/{}", row.id),
            &[
                ("modelId", "acme/brainy-1"),
                ("provider", "openrouter"),
                ("inputPricePerMTok", "2"),
                ("outputPricePerMTok", "8"),
            ],
        )
        .await;
    assert_eq!(edited.status(), 303);
    let row = db::models::find_by_id(&app.db, row.id)
        .await
        .expect("q")
        .expect("exists");
    assert_eq!((row.input_price_per_mtok, row.context_window), (2.0, None));
}

#[tokio::test]
async fn prices_are_validated() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let response = admin
        .post(
            "/admin/models",
            &[
                ("modelId", ""),
                ("provider", "x"),
                ("inputPricePerMTok", "-1"),
                ("outputPricePerMTok", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"modelId-err\">This field is required."));
    assert!(html.contains("id=\"inputPricePerMTok-err\">Must be between 0 and 10000."));
    assert!(html.contains("id=\"outputPricePerMTok-err\">This field is required."));
}
