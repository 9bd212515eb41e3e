//! AUC and KS of scores against outcomes.

/// Area under the ROC curve of `risk` (higher = riskier) for outcomes `bad`: the chance that a
/// random bad has a higher risk than a random good, ties counting one half. 0.5 when a class is
/// absent.
pub fn auc(risk: &[f64], bad: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..risk.len()).collect();
    idx.sort_by(|&a, &b| risk[a].total_cmp(&risk[b]));
    let (nb, ng) = counts(bad);
    if nb == 0 || ng == 0 {
        return 0.5;
    }
    // Mann–Whitney with average ranks for ties.
    let mut rank_sum_bad = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && risk[idx[j + 1]] == risk[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if bad[k] {
                rank_sum_bad += avg_rank;
            }
        }
        i = j + 1;
    }
    let nb = nb as f64;
    (rank_sum_bad - nb * (nb + 1.0) / 2.0) / (nb * ng as f64)
}

/// Kolmogorov–Smirnov statistic: the largest gap between the bads' and the goods' cumulative
/// distributions of `risk`.
pub fn ks(risk: &[f64], bad: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..risk.len()).collect();
    idx.sort_by(|&a, &b| risk[a].total_cmp(&risk[b]));
    let (nb, ng) = counts(bad);
    if nb == 0 || ng == 0 {
        return 0.0;
    }
    let (mut cb, mut cg, mut best) = (0usize, 0usize, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && risk[idx[j]] == risk[idx[i]] {
            if bad[idx[j]] {
                cb += 1;
            } else {
                cg += 1;
            }
            j += 1;
        }
        let gap = (cb as f64 / nb as f64 - cg as f64 / ng as f64).abs();
        best = best.max(gap);
        i = j;
    }
    best
}

fn counts(bad: &[bool]) -> (usize, usize) {
    let nb = bad.iter().filter(|&&b| b).count();
    (nb, bad.len() - nb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_ranking_has_auc_one_and_ks_one() {
        let risk = [0.1, 0.2, 0.8, 0.9];
        let bad = [false, false, true, true];
        assert_eq!(auc(&risk, &bad), 1.0);
        assert_eq!(ks(&risk, &bad), 1.0);
    }

    #[test]
    fn ties_count_one_half() {
        assert_eq!(auc(&[1.0, 1.0], &[true, false]), 0.5);
        assert_eq!(
            auc(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true]),
            0.875
        );
    }
}
