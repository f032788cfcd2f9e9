//! The login throttle on a real PostgreSQL shared by two app servers: failures counted on either
//! lock the account on both, parallel guesses spread over both cannot pass the limit, a success
//! on one clears the count for both, a throttle the database cannot answer refuses the login, and
//! ended windows are swept.

use futures_util::future::join_all;
use integration_tests::PostgresServer;
use integration_tests::app::{AppClient, AppServer};

const LIMIT: u32 = 3;

/// Two app servers on one fresh database of `postgres`, `LIMIT` failed logins per account.
async fn two_servers_on(postgres: &PostgresServer) -> (String, AppServer, AppServer) {
    let database = postgres.create_database();
    let spawn = || {
        let url = app_server::config::DatabaseUrl::new(&database);
        AppServer::spawn_with(move |c| {
            c.database = Some(url);
            c.login_attempts = LIMIT;
        })
    };
    let (one, two) = tokio::join!(spawn(), spawn());
    (database, one, two)
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn failed_logins_spread_over_two_app_servers_lock_the_account_on_both() {
    let postgres = PostgresServer::start();
    let (_, one, two) = two_servers_on(&postgres).await;
    assert_eq!(
        one.api.signup("alice", "alice-password").await.status(),
        201
    );
    assert_eq!(one.api.signup("bob", "bob-password").await.status(), 201);

    let (laptop, phone) = (one.device(), two.device());
    for (attempt, device) in [&laptop, &phone, &laptop].into_iter().enumerate() {
        let status = device.login("alice", "wrong-password").await.status();
        assert_eq!(status, 401, "attempt {attempt}");
    }
    for (server, device) in [("two", &phone), ("one", &laptop)] {
        let throttled = device.login("alice", "alice-password").await;
        assert_eq!(throttled.status(), 429, "locked on server {server}");
        let wait = retry_after(&throttled);
        assert!((1..=300).contains(&wait), "{wait}");
        assert!(device.session_cookie().is_none());
    }
    assert_eq!(
        phone.login("bob", "bob-password").await.status(),
        200,
        "other accounts are not locked"
    );
}

#[tokio::test]
async fn parallel_guesses_spread_over_two_app_servers_cannot_pass_the_limit() {
    let postgres = PostgresServer::start();
    let (_, one, two) = two_servers_on(&postgres).await;
    assert_eq!(
        one.api.signup("alice", "alice-password").await.status(),
        201
    );

    let attackers: [AppClient; 2] = [one.device(), two.device()];
    let guesses = (0..20).map(|i| {
        let attacker = attackers[i % 2].clone();
        async move {
            attacker
                .login("alice", &format!("guess-{i}"))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = join_all(guesses).await;
    let checked = statuses.iter().filter(|&&s| s == 401).count();
    let refused = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert_eq!(
        checked, LIMIT as usize,
        "passwords checked past the shared throttle: {statuses:?}"
    );
}

#[tokio::test]
async fn a_successful_login_on_one_server_clears_the_count_on_both() {
    let postgres = PostgresServer::start();
    let (_, one, two) = two_servers_on(&postgres).await;
    assert_eq!(
        one.api.signup("alice", "alice-password").await.status(),
        201
    );
    let (laptop, phone) = (one.device(), two.device());

    for _ in 0..LIMIT - 1 {
        assert_eq!(laptop.login("alice", "wrong-password").await.status(), 401);
    }
    assert_eq!(phone.login("alice", "alice-password").await.status(), 200);
    // Without the clear, the first of these would already be the attempt past the limit.
    for attempt in 0..LIMIT {
        let status = laptop.login("alice", "wrong-password").await.status();
        assert_eq!(status, 401, "attempt {attempt} after the success");
    }
    assert_eq!(phone.login("alice", "alice-password").await.status(), 429);
}

#[tokio::test]
async fn a_throttle_the_database_cannot_answer_refuses_the_login() {
    let postgres = PostgresServer::start();
    let (database, one, _two) = two_servers_on(&postgres).await;
    assert_eq!(
        one.api.signup("alice", "alice-password").await.status(),
        201
    );
    let db = sqlx::PgPool::connect(&database).await.unwrap();
    let sessions = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions")
            .fetch_one(&db)
            .await
            .unwrap()
    };

    sqlx::query("ALTER TABLE login_attempts RENAME TO login_attempts_away")
        .execute(&db)
        .await
        .unwrap();
    let device = one.device();
    // A wrong password is not checked (no 401): the attempt could not be counted.
    assert_eq!(device.login("alice", "wrong-password").await.status(), 500);
    assert_eq!(device.login("alice", "alice-password").await.status(), 500);
    let page = device
        .post_form(
            "/login",
            &[("username", "alice"), ("password", "alice-password")],
        )
        .await;
    assert_eq!(page.status(), 500);
    assert!(device.session_cookie().is_none());
    assert_eq!(sessions().await, 0, "no session without a counted attempt");

    sqlx::query("ALTER TABLE login_attempts_away RENAME TO login_attempts")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(device.login("alice", "alice-password").await.status(), 200);
    assert_eq!(sessions().await, 1);
}

/// The upsert itself, below HTTP: many parallel counts of one key through two pools (as two app
/// servers hold) each get their own number, so none is lost and no two see the same count.
#[tokio::test]
async fn parallel_counts_of_one_key_from_two_pools_are_never_lost() {
    let postgres = PostgresServer::start();
    let database = postgres.create_database();
    let (one, two) = tokio::join!(
        app_server::db::open(&database),
        app_server::db::open(&database)
    );
    let pools = [one.unwrap(), two.unwrap()];
    let now = shared::time::now_secs();
    let counts = (0..200).map(|i| {
        let pool = pools[i % 2].clone();
        async move {
            app_server::db::throttle::count(&pool, "u:alice", now, 300)
                .await
                .unwrap()
        }
    });
    let mut seen: Vec<(i64, i64)> = join_all(counts).await;
    seen.sort();
    let expected: Vec<(i64, i64)> = (1..=200).map(|n| (n, now + 300)).collect();
    assert_eq!(seen, expected);
}

/// The sweeper of expired sessions also deletes ended throttle windows; it first runs when an
/// app server starts, so a restart shows it.
#[tokio::test]
async fn ended_throttle_windows_are_swept_and_running_ones_kept() {
    let postgres = PostgresServer::start();
    let (database, one, _two) = two_servers_on(&postgres).await;
    let db = sqlx::PgPool::connect(&database).await.unwrap();
    let now = shared::time::now_secs();
    sqlx::query(
        "INSERT INTO login_attempts (key, attempts, window_ends_at)
         VALUES ('u:ended', 9, $1), ('u:running', 9, $2)",
    )
    .bind(now - 1)
    .bind(now + 300)
    .execute(&db)
    .await
    .unwrap();
    let _one = one.restart().await;
    let keys = || async {
        sqlx::query_scalar::<_, String>("SELECT key FROM login_attempts ORDER BY key")
            .fetch_all(&db)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while keys().await.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(keys().await, ["u:running"]);
}
