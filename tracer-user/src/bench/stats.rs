//! Medians and bootstrap intervals over interleaved rounds: the figures that still decide on
//! a noisy VM, where the bare loop alone moves by 30% from one minute to the next.

pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n % 2 {
        1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// A small deterministic generator (xorshift64*): the intervals are reproducible from a run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Shuffles in place (Fisher-Yates) with a seed.
pub fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut rng = Rng(seed | 1);
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// The median of `x - base` over the median of `reference - base`, each difference taken
/// within one round (so the drift between rounds cancels), with a 95% bootstrap interval that
/// resamples whole rounds.
pub fn ratio_ci(x: &[f64], base: &[f64], reference: &[f64]) -> (f64, f64, f64) {
    let n = x.len().min(base.len()).min(reference.len());
    let added: Vec<f64> = (0..n).map(|i| x[i] - base[i]).collect();
    let unit: Vec<f64> = (0..n).map(|i| reference[i] - base[i]).collect();
    let point = median(&added) / median(&unit);
    if n < 2 {
        return (point, f64::NAN, f64::NAN);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut samples = Vec::with_capacity(2000);
    let (mut a, mut u) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..2000 {
        for i in 0..n {
            let k = rng.below(n);
            (a[i], u[i]) = (added[k], unit[k]);
        }
        let r = median(&a) / median(&u);
        if r.is_finite() {
            samples.push(r);
        }
    }
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return (point, f64::NAN, f64::NAN);
    }
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (point, at(0.025), at(0.975))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn interval_brackets_a_steady_ratio() {
        let base = [
            100.0, 130.0, 110.0, 120.0, 105.0, 125.0, 115.0, 100.0, 130.0, 110.0,
        ];
        let reference: Vec<f64> = base.iter().map(|b| b + 100.0).collect();
        let x: Vec<f64> = base.iter().map(|b| b + 150.0).collect();
        let (p, lo, hi) = ratio_ci(&x, &base, &reference);
        assert!((p - 1.5).abs() < 0.01, "{p}");
        assert!(lo <= p && p <= hi, "{lo} {p} {hi}");
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut v: Vec<u32> = (0..10).collect();
        shuffle(&mut v, 7);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..10).collect::<Vec<_>>());
    }
}
