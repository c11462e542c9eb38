//! Number formatting for training output: C's `%g` for the per-epoch line,
//! and shortest round-trip text for logs and final results.

/// Formats `x` exactly as C's `printf("%.{precision}g", x)` does (glibc).
///
/// Precision 0 is treated as 1, as in C. The value is rounded from its exact
/// binary value, ties to even; style `%e` is used when the decimal exponent is
/// below -4 or at least the precision, else `%f`; trailing zeros and a
/// trailing decimal point are removed. The exponent has a sign and at least
/// two digits (`1.23e+05`, `1e-05`). Negative zero prints as `-0`, infinities
/// as `inf`/`-inf` and NaN as `nan`, or `-nan` when its sign bit is set.
pub fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let p = precision.max(1);
    // Style e with precision p-1 gives the p significant digits and the
    // decimal exponent after rounding. Style f with p-1-exp decimals rounds
    // to the same digits (when rounding carries into a new digit the value is
    // a power of ten either way), so both styles are built from them.
    let e_form = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = match e_form.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (e_form.as_str(), 0),
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    // Any exponent of an f64 fits in i64; so does any useful precision.
    let p_i = i64::try_from(p).unwrap_or(i64::MAX);
    let mut out = String::with_capacity(p + 8);
    out.push_str(sign);
    if exp < -4 || exp >= p_i {
        let mut m = mantissa.to_string();
        strip_zeros(&mut m);
        out.push_str(&m);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp >= 0 {
        // 0 <= exp < p: exp+1 integer digits, the rest after the point.
        let int = usize::try_from(exp).unwrap_or(0) + 1;
        out.push_str(&digits[..int]);
        out.push('.');
        out.push_str(&digits[int..]);
        strip_zeros(&mut out);
    } else {
        // -4 <= exp < 0: 0.000ddd
        out.push_str("0.");
        for _ in 1..exp.unsigned_abs() {
            out.push('0');
        }
        out.push_str(&digits);
        strip_zeros(&mut out);
    }
    out
}

/// Removes trailing zeros after a decimal point, then the point itself.
fn strip_zeros(s: &mut String) {
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
}

/// The per-epoch number format, C's `%.3g` as in the seed notebook.
pub fn format_3g(x: f64) -> String {
    format_g(x, 3)
}

/// Shortest text that parses back to exactly `x` (`0.1`, `1e-5`, `-0.0`,
/// `inf`, `NaN`), used for logs and final results.
pub(crate) fn full(x: f64) -> String {
    format!("{x:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_significant_digits() {
        let cases: &[(f64, &str)] = &[
            (19.675475, "19.7"),
            (36.30500000000001, "36.3"),
            (6.265000000000001, "6.27"),
            (3.5983499999999995, "3.6"),
            (0.8309654849999999, "0.831"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (100.0, "100"),
            (999.0, "999"),
            (999.5, "1e+03"),
            (1000.0, "1e+03"),
            (123456.0, "1.23e+05"),
            (-123456.0, "-1.23e+05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.000123"),
            (0.000099999, "0.0001"),
            (0.00009994, "9.99e-05"),
            (1e-5, "1e-05"),
            (-1e-5, "-1e-05"),
            (1.5e-10, "1.5e-10"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.8e+308"),
            (5e-324, "4.94e-324"),
            (2.2250738585072014e-308, "2.23e-308"),
            (0.5, "0.5"),
            (0.1, "0.1"),
            (0.2 + 0.1, "0.3"),
            (12.0, "12"),
            (12.5, "12.5"),
            (-0.0195, "-0.0195"),
            (0.000684, "0.000684"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(x, want) in cases {
            assert_eq!(format_3g(x), want, "format_3g({x:?})");
        }
    }

    #[test]
    fn rounding_edges_follow_the_exact_binary_value() {
        // 9.995 is stored as 9.99499999999999921840299066388979554176330566...
        assert_eq!(format_3g(9.995), "9.99");
        // 9.9951 rounds up and carries into a new digit.
        assert_eq!(format_3g(9.9951), "10");
        assert_eq!(format_3g(99.95), "100"); // 99.9500000000000028421709...
        assert_eq!(format_3g(99.949999), "99.9");
        // 0.0009994999999999999544... rounds down, 0.000099950000000000003... up
        // (its rounded exponent, -4, then selects style f).
        assert_eq!(format_3g(0.0009995), "0.000999");
        assert_eq!(format_3g(0.00009995), "0.0001");
        // 1.25e-5 is stored slightly above the tie, 1.35e-5 slightly below.
        assert_eq!(format_g(1.25e-5, 2), "1.3e-05");
        assert_eq!(format_g(1.35e-5, 2), "1.3e-05");
        // Exact ties are broken to even, as glibc does.
        assert_eq!(format_3g(0.125), "0.125");
        assert_eq!(format_g(0.125, 2), "0.12");
        assert_eq!(format_g(0.375, 2), "0.38");
        assert_eq!(format_g(2.5, 1), "2");
        assert_eq!(format_g(3.5, 1), "4");
    }

    #[test]
    fn other_precisions() {
        assert_eq!(format_g(std::f64::consts::PI, 0), "3");
        assert_eq!(format_g(std::f64::consts::PI, 1), "3");
        assert_eq!(format_g(std::f64::consts::PI, 6), "3.14159");
        assert_eq!(format_g(std::f64::consts::PI, 17), "3.1415926535897931");
        assert_eq!(format_g(100000.0, 6), "100000");
        assert_eq!(format_g(1000000.0, 6), "1e+06");
        assert_eq!(format_g(0.0, 6), "0");
        assert_eq!(format_g(1e-300, 6), "1e-300");
        assert_eq!(format_g(123.456, 2), "1.2e+02");
    }

    #[test]
    fn nan_keeps_its_sign_like_glibc() {
        assert_eq!(format_3g(f64::NAN), "nan");
        assert_eq!(format_3g(-f64::NAN), "-nan");
    }

    #[test]
    fn full_round_trips() {
        for x in [0.1, 1.0 / 3.0, -0.46811911547573193, 1e-20, 6.02e23, 5e-324] {
            assert_eq!(full(x).parse::<f64>().unwrap().to_bits(), x.to_bits());
        }
        assert_eq!(full(0.5369499999999999), "0.5369499999999999");
        assert_eq!(full(19.675475), "19.675475");
    }
}
