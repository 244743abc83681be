package dinoapi

import (
	"strconv"
	"strings"

	"golang.org/x/text/currency"
)

// FormatAmount renders an amount in minor units as a decimal string with its ISO code, such as
// "120.00 USD" for 12000 usd or "500 JPY" for 500 jpy. It works on integers only: the number of
// decimals comes from CLDR (golang.org/x/text/currency), and no float is ever involved.
func FormatAmount(minor int64, cur string) string {
	code := strings.ToUpper(cur)
	scale := 2
	if u, err := currency.ParseISO(code); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
	neg := minor < 0
	var digits string
	if neg {
		// Format the magnitude as unsigned so the smallest int64 has no overflow.
		digits = strconv.FormatUint(uint64(-(minor+1))+1, 10)
	} else {
		digits = strconv.FormatInt(minor, 10)
	}
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	digits = groupThousands(digits)
	if neg {
		digits = "-" + digits
	}
	return digits + " " + code
}

func groupThousands(s string) string {
	intPart, frac, hasFrac := strings.Cut(s, ".")
	if len(intPart) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(intPart) % 3
	if lead > 0 {
		b.WriteString(intPart[:lead])
	}
	for i := lead; i < len(intPart); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(intPart[i : i+3])
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
