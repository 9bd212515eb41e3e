//! Weight-of-evidence binning with monotonic merging (written by hand: no crate does it).
//!
//! Numeric: fine classing into up to `fine_bins` quantile bins (cut points are data values, so
//! bounds are exact decimals), then bins smaller than `min_bin_share` of the rows are merged
//! into the neighbour of closer bad rate, then adjacent bins are merged (pool-adjacent-violators)
//! until the bad rate is monotone — rising or falling, whichever keeps more information value —
//! then the two adjacent bins of closest WOE are merged while more than `max_bins` remain.
//! Categorical: categories ordered by bad rate, small ones merged into the neighbour of closer
//! bad rate, then the same cap on the number of bins (bins in bad-rate order are monotone).
//! Missing values join the bin of closest bad rate, or, if training saw none, go to the riskiest.

use crate::fixed::Fixed;

/// Binning settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinningParams {
    /// Quantile bins of the fine classing.
    pub fine_bins: usize,
    /// Smallest share of a feature's non-missing rows that a bin may hold.
    pub min_bin_share: f64,
    /// Most bins kept per feature.
    pub max_bins: usize,
}

/// A bin while binning: its rows and bads, and its lower bound (numeric) or categories.
#[derive(Debug, Clone)]
pub struct Group {
    pub lower: Option<Fixed>,
    pub categories: Vec<String>,
    pub rows: u64,
    pub bads: u64,
}

impl Group {
    fn rate(&self) -> f64 {
        (self.bads as f64 + 0.5) / (self.rows as f64 + 1.0)
    }
    fn absorb(&mut self, other: Group) {
        self.rows += other.rows;
        self.bads += other.bads;
        self.categories.extend(other.categories);
    }
}

/// WOE of a bin: ln(share of bads / share of goods), with half a row added to each count so
/// that a pure bin has a finite WOE.
pub fn woe(rows: u64, bads: u64, total_bads: u64, total_goods: u64) -> f64 {
    let goods = rows - bads;
    ((bads as f64 + 0.5) / total_bads as f64).ln()
        - ((goods as f64 + 0.5) / total_goods as f64).ln()
}

/// Information value of bins given as (rows, bads).
pub fn information_value(bins: &[(u64, u64)], total_bads: u64, total_goods: u64) -> f64 {
    bins.iter()
        .map(|&(n, b)| {
            let d = b as f64 / total_bads as f64 - (n - b) as f64 / total_goods as f64;
            d * woe(n, b, total_bads, total_goods)
        })
        .sum()
}

fn merge(groups: &mut Vec<Group>, i: usize) {
    let g = groups.remove(i + 1);
    groups[i].absorb(g);
}

/// Merges every group below `min_rows` into its neighbour of closer bad rate (smallest first).
fn merge_small(groups: &mut Vec<Group>, min_rows: u64) {
    while groups.len() > 1 {
        let Some((i, _)) = groups
            .iter()
            .enumerate()
            .filter(|(_, g)| g.rows < min_rows)
            .min_by_key(|(i, g)| (g.rows, *i))
        else {
            break;
        };
        let r = groups[i].rate();
        let left = i.checked_sub(1).map(|l| (groups[l].rate() - r).abs());
        let right = groups.get(i + 1).map(|g| (g.rate() - r).abs());
        match (left, right) {
            (Some(l), Some(rt)) if l <= rt => merge(groups, i - 1),
            (Some(_), None) => merge(groups, i - 1),
            _ => merge(groups, i),
        }
    }
}

/// Pool-adjacent-violators: merges adjacent groups until the bad rate rises (or falls).
fn make_monotone(groups: &mut Vec<Group>, rising: bool) {
    loop {
        let violation = (0..groups.len().saturating_sub(1)).find(|&i| {
            let (a, b) = (groups[i].rate(), groups[i + 1].rate());
            if rising {
                a >= b
            } else {
                a <= b
            }
        });
        match violation {
            Some(i) => merge(groups, i),
            None => break,
        }
    }
}

fn cap_bins(groups: &mut Vec<Group>, max_bins: usize, tb: u64, tg: u64) {
    while groups.len() > max_bins.max(1) {
        let w: Vec<f64> = groups.iter().map(|g| woe(g.rows, g.bads, tb, tg)).collect();
        let i = (0..groups.len() - 1)
            .min_by(|&a, &b| (w[a + 1] - w[a]).abs().total_cmp(&(w[b + 1] - w[b]).abs()))
            .unwrap_or(0);
        merge(groups, i);
    }
}

fn iv_of(groups: &[Group], tb: u64, tg: u64) -> f64 {
    let v: Vec<(u64, u64)> = groups.iter().map(|g| (g.rows, g.bads)).collect();
    information_value(&v, tb, tg)
}

/// Bins a numeric feature from its (value, bad) pairs (missing values left out). Returns the
/// groups in ascending order (the first group's `lower` is `None`).
pub fn bin_numeric(
    mut pairs: Vec<(Fixed, bool)>,
    p: &BinningParams,
    total_bads: u64,
    total_goods: u64,
) -> Vec<Group> {
    pairs.sort_by_key(|&(v, _)| v);
    let n = pairs.len();
    if n == 0 {
        return Vec::new();
    }
    let fine = p.fine_bins.max(1);
    let mut cuts: Vec<Fixed> = (1..fine).map(|k| pairs[k * n / fine].0).collect();
    cuts.dedup();
    cuts.retain(|&c| c > pairs[0].0);
    let mut groups: Vec<Group> = std::iter::once(None)
        .chain(cuts.iter().map(|&c| Some(c)))
        .map(|lower| Group {
            lower,
            categories: Vec::new(),
            rows: 0,
            bads: 0,
        })
        .collect();
    let mut g = 0;
    for &(v, bad) in &pairs {
        while g < cuts.len() && v >= cuts[g] {
            g += 1;
        }
        groups[g].rows += 1;
        groups[g].bads += u64::from(bad);
    }
    let min_rows = (p.min_bin_share * n as f64).ceil() as u64;
    merge_small(&mut groups, min_rows);
    let mut best: Option<(f64, Vec<Group>)> = None;
    for rising in [true, false] {
        let mut cand = groups.clone();
        make_monotone(&mut cand, rising);
        cap_bins(&mut cand, p.max_bins, total_bads, total_goods);
        let iv = iv_of(&cand, total_bads, total_goods);
        if best.as_ref().is_none_or(|(b, _)| iv > *b) {
            best = Some((iv, cand));
        }
    }
    best.map(|(_, g)| g).unwrap_or_default()
}

/// Bins a categorical feature from its categories' (rows, bads), in any order. Returns groups in
/// rising bad rate.
pub fn bin_categorical(
    categories: Vec<(String, u64, u64)>,
    p: &BinningParams,
    total_bads: u64,
    total_goods: u64,
) -> Vec<Group> {
    let n: u64 = categories.iter().map(|c| c.1).sum();
    let mut groups: Vec<Group> = categories
        .into_iter()
        .map(|(c, rows, bads)| Group {
            lower: None,
            categories: vec![c],
            rows,
            bads,
        })
        .collect();
    groups.sort_by(|a, b| {
        a.rate()
            .total_cmp(&b.rate())
            .then_with(|| a.categories.cmp(&b.categories))
    });
    let min_rows = (p.min_bin_share * n as f64).ceil() as u64;
    merge_small(&mut groups, min_rows);
    cap_bins(&mut groups, p.max_bins, total_bads, total_goods);
    for g in &mut groups {
        g.categories.sort();
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BinningParams = BinningParams {
        fine_bins: 10,
        min_bin_share: 0.05,
        max_bins: 8,
    };

    fn rates(groups: &[Group]) -> Vec<f64> {
        groups
            .iter()
            .map(|g| g.bads as f64 / g.rows as f64)
            .collect()
    }

    #[test]
    fn numeric_bins_have_monotone_bad_rates_and_cover_every_row() {
        // A U shape: the merging must leave a monotone sequence.
        let pairs: Vec<(Fixed, bool)> = (0..1000)
            .map(|i| {
                let bad = (i % 7 == 0) || (i > 800 && i % 2 == 0) || (i < 100 && i % 3 == 0);
                (Fixed(i as i128 * 1_000_000), bad)
            })
            .collect();
        let tb = pairs.iter().filter(|p| p.1).count() as u64;
        let g = bin_numeric(pairs, &P, tb, 1000 - tb);
        assert!(g.len() >= 2);
        assert_eq!(g.iter().map(|g| g.rows).sum::<u64>(), 1000);
        let r = rates(&g);
        let up = r.windows(2).all(|w| w[0] < w[1]);
        let down = r.windows(2).all(|w| w[0] > w[1]);
        assert!(up || down, "{r:?}");
        assert!(g.iter().all(|g| g.rows >= 50));
    }

    #[test]
    fn small_categories_are_merged_and_groups_rise_in_bad_rate() {
        let cats = vec![
            ("a".to_string(), 400, 40),
            ("b".to_string(), 400, 200),
            ("c".to_string(), 10, 9),
            ("d".to_string(), 190, 60),
        ];
        let g = bin_categorical(cats, &P, 309, 691);
        assert_eq!(g.iter().map(|g| g.rows).sum::<u64>(), 1000);
        assert!(g.iter().all(|g| g.rows >= 50));
        let r = rates(&g);
        assert!(r.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
    }
}
