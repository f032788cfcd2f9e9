//! What the fuzz targets share: a verifier with a real Ed25519 key and a local store root, built
//! once per process, and the properties every accepted value must keep.

use actix_web::http::header::{ContentDisposition, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use download_server::jwks::KeyStore;
use download_server::verify::{Verifier, VerifyError};
use object_store::local::LocalFileSystem;
use shared::object_path::MAX_OBJECT_PATH_LEN;
use shared::{Claims, DownloadName, ObjectPath, SigningKey};
use std::path::{Component, PathBuf};
use std::sync::OnceLock;

pub const ISSUER: &str = "https://app.fuzz.example";
pub const AUDIENCE: &str = shared::DEFAULT_AUDIENCE;
/// The seed tokens in `corpus/token` live for 100 years; the verifier must accept that lifetime
/// or every seed would stop at the lifetime check (`seeds.sh` mints them).
pub const MAX_LIFETIME: u32 = u32::MAX;
pub const LEEWAY: u32 = 30;

/// The fuzz-only signing key the seed tokens were minted with. It signs nothing anywhere else.
const SIGNING_KEY_PEM: &str = include_str!("../fuzz-only-signing-key.pem");

pub struct Fixture {
    runtime: tokio::runtime::Runtime,
    pub verifier: Verifier,
    pub key: SigningKey,
    /// The canonical store root that every verified `obj` must resolve under.
    pub store_root: PathBuf,
    pub store: LocalFileSystem,
    _dir: tempfile::TempDir,
}

/// The process-wide fixture: the JWKS of the fuzz key on disk, loaded by the server's own
/// `KeyStore`, and a `LocalFileSystem` rooted in a temporary folder.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let key = SigningKey::from_pem(SIGNING_KEY_PEM).expect("the fuzz key parses");
        let dir = tempfile::tempdir().expect("temp dir");
        let jwks = dir.path().join("jwks.json");
        key.public_jwks()
            .write_atomically(&jwks)
            .expect("write JWKS");
        let keys = runtime
            .block_on(KeyStore::load(jwks.to_str().expect("UTF-8 temp path")))
            .expect("load JWKS");
        let verifier = Verifier::new(keys, ISSUER, AUDIENCE, MAX_LIFETIME, LEEWAY);
        let root = dir.path().join("store");
        std::fs::create_dir(&root).expect("store folder");
        let store_root = root.canonicalize().expect("canonical store root");
        let store = LocalFileSystem::new_with_prefix(&store_root).expect("local store");
        Fixture {
            runtime,
            verifier,
            key,
            store_root,
            store,
            _dir: dir,
        }
    })
}

impl Fixture {
    /// `Verifier::verify`, the async entry point the server calls (it may re-read the JWKS for an
    /// unknown `kid`, at most once per 10 s).
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        self.runtime.block_on(self.verifier.verify(token))
    }

    /// A compact JWS of these exact header and payload bytes, signed with the fuzz key: lets the
    /// fuzzer reach the claim checks, which sit behind the signature.
    pub fn sign(&self, header: &[u8], payload: &[u8]) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            self.key.encoding_key(),
            shared::TOKEN_ALG,
        )
        .expect("Ed25519 signing");
        format!("{signing_input}.{signature}")
    }

    /// The contract header (`EdDSA`, `dl+jwt`, the fuzz key's `kid`), as JSON bytes.
    pub fn contract_header(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "alg": "EdDSA",
            "kid": self.key.kid(),
            "typ": shared::TOKEN_TYP,
        }))
        .expect("a header serializes")
    }

    /// What must hold for every token the verifier accepted, `now_before`/`now_after` bracketing
    /// the call: the contract's claim checks, an `obj` that stays inside the store, and the
    /// download headers the server builds from it.
    pub fn assert_accepted(&self, claims: &Claims, now_before: i64, now_after: i64) {
        let leeway = i64::from(LEEWAY);
        assert_eq!(claims.iss, ISSUER, "accepted a foreign issuer");
        assert_eq!(claims.aud, AUDIENCE, "accepted a foreign audience");
        assert!(
            claims.exp >= now_before - leeway,
            "accepted an expired token"
        );
        assert!(
            claims.iat <= now_after + leeway,
            "accepted an iat in the future"
        );
        assert!(
            claims.nbf.is_none_or(|nbf| nbf <= now_after + leeway),
            "accepted a token before its nbf"
        );
        assert!(
            claims.exp >= claims.iat && claims.exp - claims.iat <= i64::from(MAX_LIFETIME),
            "accepted a lifetime over the maximum"
        );
        self.assert_contained(&claims.obj);
        // The name exactly as serve.rs builds it for Content-Disposition.
        let name = DownloadName::sanitize(claims.name.as_deref().unwrap_or(claims.obj.file_name()));
        assert_download_name(&name);
    }

    /// An `ObjectPath` names a file under the store root and nothing else: the project's rules
    /// hold, object_store takes it unchanged, and the local store resolves it below the root.
    pub fn assert_contained(&self, obj: &ObjectPath) {
        let s = obj.as_str();
        assert_eq!(
            ObjectPath::parse(s).as_ref(),
            Ok(obj),
            "parse is not stable"
        );
        assert!(
            !s.is_empty() && s.len() <= MAX_OBJECT_PATH_LEN,
            "length {}",
            s.len()
        );
        assert!(!s.starts_with('/'), "absolute: {s:?}");
        assert!(!s.contains('\\'), "backslash: {s:?}");
        assert!(!s.chars().any(char::is_control), "control character: {s:?}");
        let segments: Vec<&str> = s.split('/').collect();
        for segment in &segments {
            assert!(
                !segment.is_empty() && *segment != "." && *segment != "..",
                "segment {segment:?} in {s:?}"
            );
        }
        assert_eq!(obj.file_name(), *segments.last().expect("one segment"));

        let location = object_store::path::Path::parse(s)
            .unwrap_or_else(|e| panic!("object_store refuses {s:?}: {e}"));
        assert_eq!(location.as_ref(), s, "object_store rewrote the path");
        let file = self
            .store
            .path_to_filesystem(&location)
            .unwrap_or_else(|e| panic!("the local store cannot place {s:?}: {e}"));
        let inside = file
            .strip_prefix(&self.store_root)
            .unwrap_or_else(|_| panic!("{s:?} resolves to {file:?}, outside the store root"));
        assert!(
            inside
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
            "{s:?} resolves to {file:?}"
        );
        assert_eq!(
            inside.components().count(),
            segments.len(),
            "{s:?} -> {file:?}"
        );

        let json = serde_json::to_string(obj).expect("serialize");
        assert_eq!(
            serde_json::from_str::<ObjectPath>(&json).as_ref().ok(),
            Some(obj),
            "serde round trip"
        );
    }
}

/// A download name is one clean file name, stable under sanitising again, and every header or
/// URL segment built from it is valid and says the same name back.
pub fn assert_download_name(name: &DownloadName) {
    let s = name.as_str();
    assert!(!s.is_empty(), "empty name");
    assert!(
        s.chars().count() <= shared::download_name::MAX_NAME_CHARS,
        "name of {} characters",
        s.chars().count()
    );
    assert!(
        !s.chars().any(|c| c.is_control() || c == '/' || c == '\\'),
        "unsafe character in {s:?}"
    );
    let edge = |c: char| c.is_whitespace() || c == '.';
    assert!(
        !s.starts_with(edge) && !s.ends_with(edge),
        "untrimmed {s:?}"
    );
    assert_eq!(
        &DownloadName::sanitize(s),
        name,
        "sanitize is not idempotent"
    );

    let ascii = name.ascii_fallback();
    assert_eq!(
        ascii.chars().count(),
        s.chars().count(),
        "fallback changed the length"
    );
    assert!(
        ascii
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'%')),
        "fallback {ascii:?}"
    );

    let disposition = name.content_disposition();
    let value = HeaderValue::from_str(&disposition)
        .unwrap_or_else(|e| panic!("{disposition:?} is no header value: {e}"));
    assert!(
        value
            .as_bytes()
            .iter()
            .all(|b| *b == b' ' || b.is_ascii_graphic()),
        "{disposition:?} has bytes outside visible ASCII"
    );
    let parsed = ContentDisposition::from_raw(&value)
        .unwrap_or_else(|e| panic!("{disposition:?} does not parse back: {e}"));
    assert!(parsed.is_attachment(), "{disposition:?}");
    assert_eq!(
        parsed.get_filename(),
        Some(ascii.as_str()),
        "{disposition:?}"
    );
    let ext = parsed
        .get_filename_ext()
        .unwrap_or_else(|| panic!("{disposition:?} has no filename*"));
    assert!(
        ext.charset.to_string().eq_ignore_ascii_case("utf-8"),
        "{disposition:?}"
    );
    assert_eq!(ext.value, s.as_bytes(), "filename* of {disposition:?}");

    // The server's Content-Type guess from the name (response_headers.rs) is a header too.
    let guessed = mime_guess::from_path(s).first_or_octet_stream().to_string();
    HeaderValue::from_str(&guessed)
        .unwrap_or_else(|e| panic!("Content-Type {guessed:?} for {s:?} is no header value: {e}"));

    let segment = name.url_path_segment();
    assert!(
        segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "segment {segment:?}"
    );
    assert_eq!(
        percent_decode(&segment).as_deref(),
        Some(s.as_bytes()),
        "segment {segment:?}"
    );
    let link = format!("/d/token/{segment}");
    assert_eq!(
        download_server::download_token(&link),
        Some("token"),
        "{link:?}"
    );
}

/// Strict `%XX` decoding, the inverse `url_path_segment` must have.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    Some(out)
}
