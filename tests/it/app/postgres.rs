//! The app server on a real PostgreSQL instead of SQLite: accounts, devices, files and single-use
//! links behave the same, data outlives a restart, two app servers share one database, the
//! schema matches SQLite's, and the database password never shows in errors or `Debug`.

use app_server::config::DatabaseUrl;
use integration_tests::PostgresServer;
use integration_tests::app::AppServer;
use serde_json::Value;
use std::collections::BTreeSet;

/// An app server (and its download server) on a fresh database of `postgres`.
async fn spawn_on(database_url: &str) -> AppServer {
    let url = DatabaseUrl::new(database_url);
    AppServer::spawn_with(|c| c.database = Some(url)).await
}

#[tokio::test]
async fn accounts_and_devices_work_on_postgres() {
    let postgres = PostgresServer::start();
    let app = spawn_on(&postgres.create_database()).await;

    let signup = app.api.signup("Alice", "alice-password").await;
    assert_eq!(signup.status(), 201);
    let created: Value = signup.json().await.unwrap();
    assert_eq!(created["username"], "alice");
    for taken in ["alice", "ALICE", " aLiCe "] {
        assert_eq!(
            app.api.signup(taken, "other-password").await.status(),
            409,
            "{taken:?}"
        );
    }
    assert_eq!(app.api.login("alice", "wrong-password").await.status(), 401);
    assert_eq!(app.api.login("ALICE", "alice-password").await.status(), 200);
    let me: Value = app.api.me().await.json().await.unwrap();
    assert_eq!(me["id"], created["id"]);

    let (phone, tablet) = (app.device(), app.device());
    for device in [&phone, &tablet] {
        assert_eq!(device.login("alice", "alice-password").await.status(), 200);
    }
    let sessions: Vec<Value> = app.api.sessions().await.json().await.unwrap();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(sessions.iter().all(|s| s["ip"] == "127.0.0.1"));

    // Sign out one device, then all others.
    let phone_sessions: Vec<Value> = phone.sessions().await.json().await.unwrap();
    let phone_id = phone_sessions
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.api.revoke_session(&phone_id).await.status(), 204);
    assert_eq!(phone.me().await.status(), 401);
    assert_eq!(app.api.revoke_session(&phone_id).await.status(), 404);
    assert_eq!(tablet.me().await.status(), 200);
    assert_eq!(app.api.revoke_others().await.status(), 204);
    assert_eq!(tablet.me().await.status(), 401);
    let left: Vec<Value> = app.api.sessions().await.json().await.unwrap();
    assert_eq!(left.len(), 1);

    // A password change keeps this device and ends the others.
    assert_eq!(tablet.login("alice", "alice-password").await.status(), 200);
    assert_eq!(
        app.api
            .change_password("alice-password", "new-password-1")
            .await
            .status(),
        204
    );
    assert_eq!(app.api.me().await.status(), 200);
    assert_eq!(tablet.me().await.status(), 401);
    assert_eq!(
        app.device().login("alice", "new-password-1").await.status(),
        200
    );

    assert_eq!(app.api.logout().await.status(), 204);
    assert_eq!(app.api.me().await.status(), 401);
}

#[tokio::test]
async fn files_are_listed_linked_downloaded_once_and_deleted_on_postgres() {
    let postgres = PostgresServer::start();
    let app = spawn_on(&postgres.create_database()).await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;

    let first = alice.upload_ok("first.txt", b"one").await;
    let second = alice.upload_ok("second.txt", b"two!").await;
    let list: Vec<Value> = alice.files().await.json().await.unwrap();
    let ids: BTreeSet<&str> = list.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from([first.as_str(), second.as_str()]));
    let sizes: BTreeSet<i64> = list.iter().map(|f| f["size"].as_i64().unwrap()).collect();
    assert_eq!(sizes, BTreeSet::from([3, 4]));
    assert_eq!(bob.file_count().await, 0);
    assert_eq!(bob.link(&first).await.status(), 404);
    assert_eq!(bob.delete_file(&first).await.status(), 404);

    let url = alice.link_ok(&first).await;
    let download = app.fetch(&url).await;
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"one");
    assert_eq!(app.fetch(&url).await.status(), 410, "a link works once");

    assert_eq!(alice.delete_file(&first).await.status(), 204);
    assert_eq!(alice.delete_file(&first).await.status(), 404);
    assert_eq!(alice.link(&first).await.status(), 404);
    let list: Vec<Value> = alice.files().await.json().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], second.as_str());
}

#[tokio::test]
async fn sessions_accounts_and_files_outlive_an_app_server_restart_on_postgres() {
    let postgres = PostgresServer::start();
    let app = spawn_on(&postgres.create_database()).await;
    assert_eq!(
        app.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(app.api.login("alice", "alice-password").await.status(), 200);
    let id = app.api.upload_ok("kept.txt", b"still here").await;

    let app = app.restart().await;

    assert_eq!(app.api.me().await.status(), 200, "the session survived");
    assert_eq!(app.api.signup("alice", "x-password").await.status(), 409);
    assert_eq!(
        app.device().login("alice", "alice-password").await.status(),
        200
    );
    let files: Vec<Value> = app.api.files().await.json().await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["id"], id.as_str());
    let response = app.fetch(&app.api.link_ok(&id).await).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"still here");
}

#[tokio::test]
async fn two_app_servers_on_one_postgres_database_share_accounts_and_sessions() {
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let (one, two) = tokio::join!(spawn_on(&database), spawn_on(&database));

    let laptop = one.signed_in("alice").await;
    assert_eq!(
        two.api.signup("ALICE", "other-password").await.status(),
        409
    );
    let secret = laptop.session_cookie().unwrap();
    assert_eq!(two.me_with_cookie(&secret).await.status(), 200);
    let id = laptop
        .upload_ok("shared.txt", b"row on the shared database")
        .await;
    let phone = two.device();
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);
    let listed: Vec<Value> = phone.files().await.json().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());

    assert_eq!(phone.revoke_others().await.status(), 204);
    assert_eq!(
        laptop.me().await.status(),
        401,
        "signed out through the other server"
    );
    assert_eq!(phone.me().await.status(), 200);
}

#[tokio::test]
async fn a_wrong_database_password_is_a_start_up_error_that_does_not_show_it() {
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let wrong = database.replace(postgres.password(), "not-the-password");
    let dir = tempfile::tempdir().unwrap();
    let mut config = integration_tests::app::test_config(dir.path(), "http://127.0.0.1:9");
    config.database = Some(DatabaseUrl::new(&wrong));
    let printed = format!("{config:?}");
    assert!(!printed.contains("not-the-password"), "{printed}");

    let Err(error) = app_server::Application::build(config).await else {
        panic!("the app server started with a wrong database password")
    };
    let shown = format!("{error:#} / {error:?}");
    assert!(shown.contains("PostgreSQL"), "{shown}");
    assert!(shown.contains("password authentication failed"), "{shown}");
    assert!(!shown.contains("not-the-password"), "{shown}");
}

#[tokio::test]
async fn the_app_server_can_reach_postgres_over_verified_tls() {
    let postgres = PostgresServer::start_with_tls();
    let database = postgres.create_database();
    let ca = postgres.ca_certificate();
    let app = spawn_on(&format!(
        "{database}?sslmode=verify-full&sslrootcert={}",
        ca.display()
    ))
    .await;
    let alice = app.signed_in("alice").await;
    assert_eq!(alice.me().await.status(), 200);
    let encrypted = postgres.psql(
        "postgres",
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = 'app-server'",
    );
    assert!(
        !encrypted.trim().is_empty() && encrypted.lines().all(|ssl| ssl == "t"),
        "every connection of the app server is encrypted: {encrypted:?}"
    );

    // Without the CA the server's certificate is not trusted: no start.
    let dir = tempfile::tempdir().unwrap();
    let mut config = integration_tests::app::test_config(dir.path(), "http://127.0.0.1:9");
    config.database = Some(DatabaseUrl::new(format!("{database}?sslmode=verify-full")));
    let started = std::time::Instant::now();
    let refused = app_server::Application::build(config).await;
    assert!(refused.is_err(), "an untrusted certificate was accepted");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// Tables with their columns, keys, indexes and foreign keys, written the same way for both
/// backends so the two migration folders can be compared.
type Schema = BTreeSet<String>;

#[tokio::test]
async fn the_postgres_schema_matches_the_sqlite_one() {
    let sqlite_app = AppServer::spawn().await;
    let sqlite = sqlx::SqlitePool::connect(&sqlite_app.config.database_url())
        .await
        .unwrap();
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let _postgres_app = spawn_on(&database).await;
    let pg = sqlx::PgPool::connect(&database).await.unwrap();

    let from_sqlite = sqlite_schema(&sqlite).await;
    let from_postgres = postgres_schema(&pg).await;
    assert!(from_sqlite.iter().any(|s| s.contains("on delete cascade")));
    // Every migration is compared, the later ones too (0002: the login throttle's table).
    assert!(
        from_sqlite.contains("login_attempts primary key (key)"),
        "{from_sqlite:#?}"
    );
    assert!(
        from_sqlite.contains("dl_revocations.seq bigint not null"),
        "{from_sqlite:#?}"
    );
    assert_eq!(from_postgres, from_sqlite);
}

async fn sqlite_schema(db: &sqlx::SqlitePool) -> Schema {
    let mut schema = Schema::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for table in tables {
        let columns: Vec<(String, String, bool, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info($1) ORDER BY cid",
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        let mut primary_key = Vec::new();
        for (name, kind, not_null, pk) in columns {
            // SQLite lets a TEXT PRIMARY KEY hold NULL (a historical quirk; the app never
            // writes one); PostgreSQL's primary keys are NOT NULL, so compare them as such.
            let not_null = if not_null || pk > 0 { " not null" } else { "" };
            // SQLite's INTEGER PRIMARY KEY is the 64-bit rowid: PostgreSQL's BIGINT identity.
            let kind = match kind.to_lowercase() {
                integer if integer == "integer" && pk > 0 => "bigint".to_owned(),
                other => other,
            };
            schema.insert(format!("{table}.{name} {kind}{not_null}"));
            if pk > 0 {
                primary_key.push(name);
            }
        }
        schema.insert(format!("{table} primary key ({})", primary_key.join(", ")));
        let indexes: Vec<(String, bool, String)> =
            sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
                .bind(&table)
                .fetch_all(db)
                .await
                .unwrap();
        for (index, unique, origin) in indexes {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(db)
                    .await
                    .unwrap();
            let columns = columns.join(", ");
            match origin.as_str() {
                "pk" => {}
                "u" => {
                    schema.insert(format!("{table} unique ({columns})"));
                }
                _ => {
                    let unique = if unique { "unique " } else { "" };
                    schema.insert(format!("{table} {unique}index {index} ({columns})"));
                }
            }
        }
        let foreign_keys: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list($1)",
        )
        .bind(&table)
        .fetch_all(db)
        .await
        .unwrap();
        for (from, target, to, on_delete) in foreign_keys {
            schema.insert(format!(
                "{table} foreign key ({from}) references {target} ({to}) on delete {}",
                on_delete.to_lowercase()
            ));
        }
    }
    schema
}

async fn postgres_schema(db: &sqlx::PgPool) -> Schema {
    let mut schema = Schema::new();
    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable = 'NO'
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx\\_%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, name, kind, not_null) in columns {
        let not_null = if not_null { " not null" } else { "" };
        schema.insert(format!("{table}.{name} {kind}{not_null}"));
    }
    // Constraints (primary key, unique, foreign key) as PostgreSQL spells them, in the same
    // words as the SQLite side.
    let constraints: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
         WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')
         AND conrelid::regclass::text NOT LIKE '\\_sqlx\\_%'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, definition) in constraints {
        let definition = definition
            .to_lowercase()
            .replace("(", " (")
            .replace("  (", " (");
        schema.insert(format!("{table} {definition}"));
    }
    // Indexes created on their own (not those behind a constraint).
    let indexes: Vec<(String, String, bool, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, x.indisunique,
                pg_get_indexdef(x.indexrelid)
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_class t ON t.oid = x.indrelid
         WHERE t.relnamespace = 'public'::regnamespace AND t.relname NOT LIKE '\\_sqlx\\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for (table, index, unique, definition) in indexes {
        let columns = definition
            .rsplit_once(" (")
            .map_or(definition.as_str(), |(_, columns)| {
                columns.trim_end_matches(')')
            })
            .to_owned();
        let unique = if unique { "unique " } else { "" };
        schema.insert(format!("{table} {unique}index {index} ({columns})"));
    }
    schema
}
