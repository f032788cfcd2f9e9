//! One Ed25519 rule (ZIP215, `download_server::verify::signature`) for a signature checked alone
//! and in a batch: on the edge cases where RFC 8032's two equations and its encodings part ways
//! (a small-order component in `R`, `R` the identity or encoded non-canonically, a non-canonical
//! `S`, keys of small order or in a non-canonical encoding), each path gives the same answer,
//! directly and through a real server, alone and amid concurrent requests on one worker. The
//! forgery cases of `rejections.rs` are refused through the batch path as well.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use download_server::jwks::VerifyingKey;
use download_server::verify::signature::batch_verifies;
use integration_tests::DownloadServer;
use serde_json::json;
use std::time::Duration;

/// An Ed25519 key as a bare scalar, so that signatures can be made that no library would make.
struct Signer {
    a: Scalar,
    public: [u8; 32],
}

/// `l`, the order of the prime-order subgroup, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The identity point's encoding with `y = p + 1` instead of `y = 1` (still decodes under ZIP215).
const IDENTITY_NON_CANONICAL: [u8; 32] = [
    0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
];

impl Signer {
    fn random() -> Self {
        let a = Scalar::from_bytes_mod_order(rand::random());
        Signer {
            a,
            public: EdwardsPoint::mul_base(&a).compress().to_bytes(),
        }
    }

    fn key(&self) -> VerifyingKey {
        VerifyingKey::ed25519(&self.public).expect("a valid key")
    }

    /// `R = [r]B + torsion`, encoded canonically, and `S = r + k·a` over that encoding.
    fn sign(&self, message: &[u8], r: Scalar, torsion: EdwardsPoint) -> [u8; 64] {
        let point = EdwardsPoint::mul_base(&r) + torsion;
        self.sign_encoded(message, r, point.compress().to_bytes())
    }

    /// `S = r + k·a`, with `k` over `r_bytes`, which must encode `[r]B` (up to torsion).
    fn sign_encoded(&self, message: &[u8], r: Scalar, r_bytes: [u8; 32]) -> [u8; 64] {
        let k = challenge(&r_bytes, &self.public, message);
        let s = r + k * self.a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&r_bytes);
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    fn honest(&self, message: &[u8]) -> [u8; 64] {
        self.sign(message, random_scalar(), EdwardsPoint::default())
    }
}

fn random_scalar() -> Scalar {
    Scalar::from_bytes_mod_order(rand::random())
}

/// `k = SHA-512(R || A || M) mod l`.
fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA512);
    hash.update(r);
    hash.update(a);
    hash.update(message);
    let wide: [u8; 64] = hash.finish().as_ref().try_into().expect("64 bytes");
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// `S + l` in place of `S`: the same value mod `l`, not a canonical scalar.
fn with_s_plus_l(mut signature: [u8; 64]) -> [u8; 64] {
    let mut carry = 0u16;
    for (byte, l) in signature[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + l fits in 256 bits");
    signature
}

/// A signature made by `signer` for `message`, and whether the one rule accepts it.
struct Case {
    name: String,
    signature: [u8; 64],
    accepted: bool,
}

/// The edge cases for `message`: each small-order component in `R`, `R` the identity (in two
/// encodings) or a small-order point, `S` not canonical, `R` not a point, a flipped bit.
fn cases(signer: &Signer, message: &[u8]) -> Vec<Case> {
    let case = |name: &str, signature, accepted| Case {
        name: name.into(),
        signature,
        accepted,
    };
    let mut cases = vec![
        case("honest", signer.honest(message), true),
        case(
            "S + l (non-canonical S)",
            with_s_plus_l(signer.honest(message)),
            false,
        ),
        case(
            "R the identity",
            signer.sign(message, Scalar::ZERO, EdwardsPoint::default()),
            true,
        ),
        case(
            "R the identity, encoded with y = p + 1",
            signer.sign_encoded(message, Scalar::ZERO, IDENTITY_NON_CANONICAL),
            true,
        ),
        case(
            "S + l with R the identity",
            with_s_plus_l(signer.sign(message, Scalar::ZERO, EdwardsPoint::default())),
            false,
        ),
    ];
    for (i, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
        cases.push(case(
            &format!("R with a component of small order (torsion point {i})"),
            signer.sign(message, random_scalar(), *torsion),
            true,
        ));
        cases.push(case(
            &format!("R a point of small order (torsion point {i})"),
            signer.sign(message, Scalar::ZERO, *torsion),
            true,
        ));
    }
    let mut not_a_point = signer.honest(message);
    // y = 2 is not the y of any point on the curve.
    not_a_point[..32].copy_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 2;
        y
    });
    assert!(
        CompressedEdwardsY(not_a_point[..32].try_into().unwrap())
            .decompress()
            .is_none()
    );
    cases.push(case("R not a point", not_a_point, false));
    let mut flipped = signer.honest(message);
    flipped[40] ^= 1;
    cases.push(case("a flipped bit in S", flipped, false));
    cases
}

#[test]
fn single_and_batch_checks_accept_exactly_the_same_signatures() {
    let signer = Signer::random();
    let key = signer.key();
    let message = b"eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ4In0";
    let others: Vec<(Vec<u8>, [u8; 64])> = (0..15)
        .map(|i| {
            let message = format!("other message {i}").into_bytes();
            let signature = signer.honest(&message);
            (message, signature)
        })
        .collect();
    for Case {
        name,
        signature,
        accepted,
    } in cases(&signer, message)
    {
        assert_eq!(key.verifies(message, &signature), accepted, "alone: {name}");
        assert_eq!(
            batch_verifies([(&key, &message[..], &signature[..])]),
            accepted,
            "a batch of one: {name}"
        );
        let mut batch: Vec<(&VerifyingKey, &[u8], &[u8])> =
            others.iter().map(|(m, s)| (&key, &m[..], &s[..])).collect();
        batch.insert(7, (&key, &message[..], &signature[..]));
        assert_eq!(
            batch_verifies(batch),
            accepted,
            "amid 15 valid ones: {name}"
        );
    }
}

/// ZIP215 accepts what RFC 8032's strict (cofactorless) check refuses only where `R` carries a
/// component of small order, and such a signature needs the private key: the old single path
/// (aws-lc-rs) refuses it, the one rule accepts it on both paths.
#[test]
fn a_small_order_component_in_r_is_where_the_rule_differs_from_the_cofactorless_check() {
    let signer = Signer::random();
    let message = b"header.payload";
    let strict =
        aws_lc_rs::signature::UnparsedPublicKey::new(&aws_lc_rs::signature::ED25519, signer.public);
    let honest = signer.honest(message);
    assert!(strict.verify(message, &honest).is_ok());
    assert!(signer.key().verifies(message, &honest));
    let mixed = signer.sign(message, random_scalar(), EIGHT_TORSION[1]);
    assert!(strict.verify(message, &mixed).is_err());
    assert!(signer.key().verifies(message, &mixed));
}

#[test]
fn keys_of_small_order_or_in_a_non_canonical_encoding_are_refused() {
    // Under a key of small order, R = A and S = 0 verify on any message (ZIP215's known gap).
    for (i, torsion) in EIGHT_TORSION.iter().enumerate() {
        let encoded = torsion.compress().to_bytes();
        assert!(
            VerifyingKey::ed25519(&encoded).is_err(),
            "torsion point {i} as a key"
        );
    }
    assert!(VerifyingKey::ed25519(&IDENTITY_NON_CANONICAL).is_err());
    let mut identity_negative_zero = [0u8; 32];
    identity_negative_zero[0] = 1;
    identity_negative_zero[31] = 0x80;
    assert!(VerifyingKey::ed25519(&identity_negative_zero).is_err());
    // A point of large order with y < 19 has a second encoding, y + p: refused, while its
    // canonical one is a key.
    let mut non_canonical_points = 0;
    for y in 2u8..19 {
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        let Some(point) = CompressedEdwardsY(canonical).decompress() else {
            continue;
        };
        if point.is_small_order() {
            continue;
        }
        let mut plus_p = IDENTITY_NON_CANONICAL;
        plus_p[0] = 0xed + y;
        assert_eq!(
            CompressedEdwardsY(plus_p).decompress(),
            Some(point),
            "y = {y} + p decodes to the same point"
        );
        assert!(VerifyingKey::ed25519(&canonical).is_ok(), "y = {y}");
        assert!(VerifyingKey::ed25519(&plus_p).is_err(), "y = {y} + p");
        non_canonical_points += 1;
    }
    assert!(non_canonical_points > 0, "some y < 19 is on the curve");
    assert!(VerifyingKey::ed25519(&[0u8; 31]).is_err());
    assert!(VerifyingKey::ed25519(&Signer::random().public).is_ok());
}

/// A server with one worker (so that concurrent requests share its batches) that trusts
/// `signer` under kid `edge-cases`, with `f.txt` in its store.
async fn server_trusting(signer: &Signer) -> DownloadServer {
    let files = integration_tests::download::ServerFiles::new();
    let mut jwks = files.key.public_jwks();
    let mut jwk = shared::PublicJwk::ed25519(&signer.public);
    jwk.kid = "edge-cases".into();
    jwks.keys.push(jwk);
    jwks.write_atomically(&files.jwks_path()).unwrap();
    let mut config = files.config();
    config.workers = Some(1);
    let server = DownloadServer::start(files, config).await;
    server.put_file("f.txt", b"batched bytes");
    server
}

/// A token for `f.txt` (a fresh `jti`) signed by `sign` over its signing input.
fn token(server: &DownloadServer, kid: &str, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> String {
    let header = json!({"alg": "EdDSA", "typ": "dl+jwt", "kid": kid});
    let claims = serde_json::to_value(server.claims("f.txt")).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Signature checks and batch checks the server has made so far.
async fn batch_counts(server: &DownloadServer) -> (u64, u64, u64) {
    (
        server.metric("token_verify_batch_size_sum").await,
        server.metric("token_verify_batch_size_count").await,
        server.metric("token_verify_batch_failures_total").await,
    )
}

/// `token` sent at the same moment as 31 valid tokens, until it was checked in a batch with some
/// of them (bounded): its status. A `bad` one was, once a batch failed in its round (it is the
/// only bad one there); any other, once a round had batches of two or more and none failed,
/// which for a token the rule accepts is what shows the batch equation accepted it too.
async fn status_in_a_batch(server: &DownloadServer, token: impl Fn() -> String, bad: bool) -> u16 {
    for _ in 0..20 {
        // A failed batch turns the worker to single checks for 250 ms.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = batch_counts(server).await;
        let odd = token();
        let valid: Vec<String> = (0..31).map(|_| server.mint("f.txt")).collect();
        let mut all: Vec<&str> = valid.iter().map(String::as_str).collect();
        all.insert(13, &odd);
        let answers = futures_util::future::join_all(all.iter().map(|token| async move {
            let response = server.get(token).await;
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap())
        }))
        .await;
        for (i, (status, body)) in answers.iter().enumerate() {
            if i != 13 {
                assert_eq!(*status, 200, "a valid token beside the odd one");
                assert_eq!(&body[..], b"batched bytes");
            }
        }
        let after = batch_counts(server).await;
        let (signatures, batches, failures) =
            (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        let batched = if bad {
            failures > 0
        } else {
            assert_eq!(failures, 0, "a batch failed with no bad signature in it");
            batches < signatures
        };
        if batched {
            return answers[13].0;
        }
    }
    panic!("32 concurrent requests on one worker never shared a batch");
}

#[tokio::test]
async fn the_server_gives_each_edge_case_the_same_answer_alone_and_in_a_batch() {
    let signer = Signer::random();
    let server = server_trusting(&signer).await;
    let names: Vec<(String, bool)> = cases(&signer, b"")
        .into_iter()
        .map(|case| (case.name, case.accepted))
        .collect();
    for (index, (name, accepted)) in names.iter().enumerate() {
        let make = || {
            token(&server, "edge-cases", |input| {
                cases(&signer, input).swap_remove(index).signature
            })
        };
        let expected = if *accepted { 200 } else { 403 };
        assert_eq!(
            server.get(&make()).await.status(),
            expected,
            "alone: {name}"
        );
        assert_eq!(
            status_in_a_batch(&server, make, !accepted).await,
            expected,
            "in a batch: {name}"
        );
    }
}

#[tokio::test]
async fn forged_tokens_are_refused_through_the_batch_path_without_failing_the_others() {
    let signer = Signer::random();
    let server = server_trusting(&signer).await;
    let foreign = shared::SigningKey::generate().unwrap();
    let foreign_same_kid = || {
        let mut claims = server.claims("f.txt");
        claims.jti = shared::Jti::new_random();
        let header = server.minter().header();
        jsonwebtoken::encode(
            &header,
            &serde_json::to_value(&claims).unwrap(),
            foreign.encoding_key(),
        )
        .unwrap()
    };
    let flipped = || {
        let token = server.mint("f.txt");
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        raw[10] ^= 0x40;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(raw))
    };
    let tampered = || {
        let token = server.mint("f.txt");
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims = serde_json::to_value(server.claims("f.txt")).unwrap();
        claims["sub"] = json!("someone-else");
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        )
    };
    let other_key_signature = || {
        token(&server, "edge-cases", |input| {
            Signer::random().honest(input)
        })
    };
    for (name, forge) in [
        (
            "a foreign key under our kid",
            &foreign_same_kid as &dyn Fn() -> String,
        ),
        ("a flipped signature bit", &flipped),
        ("a tampered claims set", &tampered),
        (
            "another key's signature under a trusted kid",
            &other_key_signature,
        ),
    ] {
        assert_eq!(server.get(&forge()).await.status(), 403, "alone: {name}");
        assert_eq!(
            status_in_a_batch(&server, forge, true).await,
            403,
            "in a batch: {name}"
        );
    }
}
