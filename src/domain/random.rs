//! The random bodies of keys and tokens: base62 characters from the OS random source.
//! Its own module so that keys (which parse tokens too) and tokens share it without
//! depending on each other both ways.

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `chars` base62 characters from the OS random source.
pub(super) fn random_base62(chars: usize) -> String {
    let mut body = String::with_capacity(chars);
    let mut buf = [0u8; 64];
    while body.len() < chars {
        getrandom::fill(&mut buf).expect("the OS random source failed");
        // 248 = 4 * 62: rejecting bytes at or above it keeps every character equally likely.
        for b in buf.iter().filter(|&&b| b < 248) {
            if body.len() == chars {
                break;
            }
            body.push(BASE62[(*b % 62) as usize] as char);
        }
    }
    body
}
