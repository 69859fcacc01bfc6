//! Federated averaging without HTTP or SQL: checking an update envelope as the Python
//! device agent builds it, and adding updates into a weighted sum as they arrive.
//!
//! The envelope is `json.dumps({"format": "plaintext_json", "sha256", "size", "data"})`
//! where `sha256` and `size` are of `json.dumps(data)`: Python's separators and float
//! repr. Re-serialising `data` would not give those bytes back, so the digest is taken
//! over the exact bytes of the `data` value as sent (serde_json's `RawValue`).
//!
//! FedAvg keeps, per round, the sum of `weight × update` and the sum of the weights, so
//! an update costs one pass over its numbers when it arrives, and the aggregate is one
//! division at the end, whatever the number of devices.

use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// The only envelope format devreg aggregates.
pub const PLAINTEXT_JSON: &str = "plaintext_json";

/// The algorithm every result names.
pub const ALGORITHM: &str = "fedavg";

#[derive(Deserialize)]
struct Envelope<'a> {
    format: String,
    sha256: String,
    size: u64,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Checks an uploaded envelope and returns its update: the format must be
/// `plaintext_json`, `size` and `sha256` must be those of the `data` value's bytes as
/// sent, and `data` must be an array of numbers. The error is a sentence for the client.
pub fn open_envelope(bytes: &[u8]) -> Result<Vec<f64>, String> {
    let envelope: Envelope<'_> = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "the uploaded parts, joined in order, are not an update envelope \
             ({{\"format\", \"sha256\", \"size\", \"data\"}}): {e}"
        )
    })?;
    if envelope.format != PLAINTEXT_JSON {
        return Err(format!(
            "the envelope's format is {}; devreg aggregates only \"{PLAINTEXT_JSON}\" updates \
             (secure aggregation is not supported)",
            serde_json::Value::from(envelope.format)
        ));
    }
    let data = envelope.data.get().as_bytes();
    if envelope.size != data.len() as u64 {
        return Err(format!(
            "the envelope's size is {} but its data is {} bytes: the upload is incomplete or \
             was altered",
            envelope.size,
            data.len()
        ));
    }
    let digest = hex(&Sha256::digest(data));
    if !envelope.sha256.eq_ignore_ascii_case(&digest) {
        return Err(format!(
            "the envelope's sha256 is {} but its data hashes to {digest}: the upload is \
             corrupt or was altered",
            serde_json::Value::from(envelope.sha256)
        ));
    }
    serde_json::from_str::<Vec<f64>>(envelope.data.get())
        .map_err(|e| format!("the envelope's data must be a JSON array of finite numbers: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an update's numbers and clips it to the plan's L2 norm `clip_norm`, as the
/// device agent does before it adds noise (`clip_update`): an update within the norm is
/// kept as sent, a longer one is scaled down to it, so no participant can weigh more than
/// the plan allows. The error is a sentence for the client.
pub fn check_and_clip(update: &mut [f64], clip_norm: f64) -> Result<(), String> {
    if update.is_empty() {
        return Err("the update is empty: it must have at least one number".to_owned());
    }
    if let Some(i) = update.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "the update's number at index {i} is not finite: every number must be finite"
        ));
    }
    let norm = l2_norm(update);
    if norm > clip_norm {
        let scale = clip_norm / norm;
        for x in update.iter_mut() {
            *x *= scale;
        }
    }
    Ok(())
}

/// The L2 norm, computed on numbers scaled by the largest magnitude so that squaring
/// numbers near `f64::MAX` does not overflow.
pub fn l2_norm(values: &[f64]) -> f64 {
    let largest = values.iter().fold(0.0_f64, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let sum: f64 = values.iter().map(|x| (x / largest) * (x / largest)).sum();
    largest * sum.sqrt()
}

/// Adds `weight × update` into `sum`, which must be as long. `Err` (with `sum` then
/// partly changed: the caller drops it) when a number would stop being finite.
pub fn add_weighted(sum: &mut [f64], update: &[f64], weight: f64) -> Result<(), String> {
    debug_assert_eq!(sum.len(), update.len());
    for (s, x) in sum.iter_mut().zip(update) {
        *s += weight * x;
        if !s.is_finite() {
            return Err(
                "adding the update would make the round's weighted sum overflow: its numbers \
                 times its sample_count are too large for this round's clip_norm"
                    .to_owned(),
            );
        }
    }
    Ok(())
}

/// The weighted mean: `sum / total_weight`, element by element.
pub fn mean(sum: &[f64], total_weight: f64) -> Vec<f64> {
    sum.iter().map(|s| s / total_weight).collect()
}

/// A vector as stored: little-endian f64s.
pub fn to_blob(values: &[f64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The vector a blob of [`to_blob`] holds.
pub fn from_blob(blob: &[u8]) -> Vec<f64> {
    blob.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Python's `encrypt_update` sends for `[0.1, -0.2, 3.0]`.
    fn python_envelope(data: &str) -> String {
        let digest = hex(&Sha256::digest(data.as_bytes()));
        format!(
            "{{\"format\": \"plaintext_json\", \"sha256\": \"{digest}\", \"size\": {}, \"data\": {data}}}",
            data.len()
        )
    }

    #[test]
    fn an_envelope_opens_with_the_exact_bytes_of_its_data() {
        let envelope = python_envelope("[0.1, -0.2, 3.0, 1e-05]");
        assert_eq!(
            open_envelope(envelope.as_bytes()).unwrap(),
            [0.1, -0.2, 3.0, 1e-05]
        );
    }

    #[test]
    fn a_wrong_size_digest_or_format_is_refused_by_name() {
        let good = python_envelope("[0.5, 0.25]");
        let altered = good.replace("[0.5, 0.25]", "[0.5, 0.75]");
        assert!(
            open_envelope(altered.as_bytes())
                .unwrap_err()
                .contains("sha256")
        );
        let longer = good.replace("[0.5, 0.25]", "[0.5, 0.255]");
        assert!(
            open_envelope(longer.as_bytes())
                .unwrap_err()
                .contains("size")
        );
        let other = good.replace("plaintext_json", "secure_agg");
        assert!(
            open_envelope(other.as_bytes())
                .unwrap_err()
                .contains("format")
        );
        let cut = &good.as_bytes()[..good.len() - 3];
        assert!(open_envelope(cut).unwrap_err().contains("envelope"));
        let words = python_envelope("[\"a\"]");
        assert!(
            open_envelope(words.as_bytes())
                .unwrap_err()
                .contains("numbers")
        );
    }

    #[test]
    fn the_weighted_mean_of_blobs_round_trips() {
        let mut sum = vec![0.0; 2];
        add_weighted(&mut sum, &[1.0, 2.0], 1.0).unwrap();
        add_weighted(&mut sum, &[3.0, 4.0], 3.0).unwrap();
        let sum = from_blob(&to_blob(&sum));
        assert_eq!(mean(&sum, 4.0), [2.5, 3.5]);
    }

    #[test]
    fn huge_updates_are_clipped_to_the_plan_norm_and_the_sum_stays_finite() {
        let mut update = vec![1e308, 1e308];
        check_and_clip(&mut update, 1.0).unwrap();
        let half = std::f64::consts::FRAC_1_SQRT_2;
        assert!((update[0] - half).abs() < 1e-12 && (update[1] - half).abs() < 1e-12);
        let mut sum = vec![0.0; 2];
        add_weighted(&mut sum, &update, 1e12).unwrap();
        assert!(sum.iter().all(|x| x.is_finite()));

        let mut small = vec![0.3, -0.4];
        check_and_clip(&mut small, 1.0).unwrap();
        assert_eq!(
            small,
            [0.3, -0.4],
            "an update within the norm is kept as sent"
        );
        assert!(check_and_clip(&mut [], 1.0).unwrap_err().contains("empty"));
        assert!(
            check_and_clip(&mut [1.0, f64::NAN], 1.0)
                .unwrap_err()
                .contains("index 1")
        );
        let mut near_max = vec![f64::MAX / 2.0];
        assert!(add_weighted(&mut near_max, &[f64::MAX / 2.0], 4.0).is_err());
    }
}
