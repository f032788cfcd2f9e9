//! The download URL as the server reads it: `/d/{token}[/{name}]` -> the token -> JWS parsing and
//! `Verifier::verify` with a real Ed25519 key. The seeds are valid paths minted by `dl-token`.
#![no_main]

use download_server::download_token;
use download_server::verify::VerifyError;
use libfuzzer_sys::fuzz_target;
use shared::MAX_TOKEN_LEN;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Some(token) = download_token(path) else {
        return;
    };
    let rest = path
        .strip_prefix("/d/")
        .expect("a token only comes from under /d/");
    assert!(!token.is_empty() && !token.contains('/'), "{token:?}");
    match rest
        .strip_prefix(token)
        .expect("the token is the first segment")
    {
        "" => {}
        name => {
            let name = name.strip_prefix('/').expect("a name follows a slash");
            assert!(!name.is_empty() && !name.contains('/'), "{path:?}");
        }
    }

    let fixture = download_token_fuzz::fixture();
    let before = shared::time::now_secs();
    let verified = fixture.verify(token);
    let after = shared::time::now_secs();
    match verified {
        Ok(claims) => fixture.assert_accepted(&claims, before, after),
        Err(VerifyError::TooLong) => assert!(token.len() > MAX_TOKEN_LEN),
        Err(_) => assert!(token.len() <= MAX_TOKEN_LEN),
    }
});
