//! Token verification on one core through the server's own code path (`Verifier`, the keys as
//! loaded from a JWKS), next to the bare Ed25519 signature check it is built around. The
//! `verify/server_path` figure is the crypto limit `bench/run` compares request rates with.

mod support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let keys = support::Keys::generate();
    let verifier = keys.verifier(&runtime);
    let token = keys.token("users/42/files/report.pdf");
    assert!(verifier.verify_with_current_keys(&token).is_ok());

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    // What every GET /d/{token} runs: header checks, key lookup, signature, claims.
    group.bench_function("server_path", |b| {
        b.iter(|| {
            verifier
                .verify_with_current_keys(black_box(&token))
                .expect("valid")
        });
    });
    // The async entry point the handler awaits (resolves without suspending for a known kid).
    group.bench_function("server_path_async", |b| {
        b.to_async(&runtime)
            .iter(|| async { verifier.verify(black_box(&token)).await.expect("valid") });
    });
    // The floor: Ed25519 over the signing input alone, with a pre-parsed public key.
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("b64");
    let public = URL_SAFE_NO_PAD
        .decode(keys.minter.key().public_jwk().x)
        .expect("b64");
    let public_key =
        aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ED25519, &public)
            .expect("public key");
    group.bench_function("ed25519_signature_only", |b| {
        b.iter(|| {
            public_key
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .expect("valid");
        });
    });
    // For comparison, the path this server used before: jsonwebtoken's `decode_header` + `decode`
    // (three header parses, the public key re-parsed per call, claims deserialized twice).
    let decoding_key =
        jsonwebtoken::DecodingKey::from_ed_components(&keys.minter.key().public_jwk().x)
            .expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[support::ISSUER]);
    validation.set_audience(&[support::AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            let header = jsonwebtoken::decode_header(black_box(&token)).expect("header");
            assert!(header.kid.is_some());
            jsonwebtoken::decode::<shared::Claims>(&token, &decoding_key, &validation)
                .expect("valid")
        });
    });
    // A forged signature: refused at the same cost, never a cheaper path for attackers to probe.
    let mut forged = token.clone();
    let flip = forged.len() - 20;
    let replaced = if &forged[flip..=flip] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(flip..=flip, replaced);
    group.bench_function("bad_signature", |b| {
        b.iter(|| {
            verifier
                .verify_with_current_keys(black_box(&forged))
                .expect_err("forged")
        });
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
