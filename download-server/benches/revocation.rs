//! What revocation adds to every download: the check of a token against the state held, empty
//! and with 10,000 records of each kind (an hour of a busy service's sign-outs, password changes,
//! deletions and revoked links), for a token that none of them names.

use criterion::{Criterion, criterion_group, criterion_main};
use download_server::revocation::Revocations;
use shared::{Claims, Jti, ObjectPath, RevocationState};
use std::hint::black_box;

fn claims(now: i64) -> Claims {
    Claims {
        iss: "https://app.example".into(),
        aud: "download".into(),
        sub: "7d0c9b1e-5f00-4a4b-9d8f-000000000001".into(),
        jti: Jti::new_random(),
        iat: now,
        exp: now + 120,
        nbf: None,
        obj: ObjectPath::parse("u/7d0c9b1e-5f00-4a4b-9d8f-000000000001/f").unwrap(),
        name: None,
        sgen: 3,
        ogen: 0,
        sid: Some("Zm9vYmFyYmF6cXV4cXV1eA".into()),
    }
}

fn state(records: usize, now: i64) -> RevocationState {
    let mut state = RevocationState {
        iat: now,
        seq: records as i64,
        retain: 3840,
        ..RevocationState::default()
    };
    for i in 0..records {
        state.sub.insert(format!("user-{i}"), 4);
        state.obj.insert(format!("u/user-{i}/file"), 1);
        state.sid.insert(format!("sid-{i:018}"));
        state.jti.insert(Jti::new_random());
    }
    state
}

fn check(c: &mut Criterion) {
    let now = shared::time::now_secs();
    let token = claims(now);
    let mut group = c.benchmark_group("revocation_check");
    for records in [0, 10_000] {
        let revocations = Revocations::holding(state(records, now), 3600);
        group.bench_function(format!("{records}_records_each"), |b| {
            b.iter(|| assert!(revocations.check(black_box(&token), black_box(now)).is_ok()));
        });
    }
    group.finish();
}

criterion_group!(benches, check);
criterion_main!(benches);
