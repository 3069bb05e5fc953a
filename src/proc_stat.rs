//! Fields of a `/proc/PID/stat` text (proc(5)). The second field, the command name in
//! parentheses, may hold spaces and `)` itself, so the fields after it are counted from its last
//! `)`.

/// Field `n`, numbered from 1 as in proc(5), parsed as `T`: `None` for the first two fields and
/// for one that is missing or does not parse.
pub fn field<T: std::str::FromStr>(stat: &str, n: usize) -> Option<T> {
    let after_name = n.checked_sub(3)?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(after_name)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_the_last_parenthesis_of_the_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1";
        assert_eq!(field::<char>(stat, 3), Some('S'));
        assert_eq!(field::<i32>(stat, 4), Some(1));
        assert_eq!(field::<i32>(stat, 8), Some(-1));
        assert_eq!(field::<i32>(stat, 9), None);
        assert_eq!(field::<i32>(stat, 2), None);
    }
}
