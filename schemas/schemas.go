// Package schemas holds the JSON Schema documents of the /v1 REST payloads. They are the one
// source of truth: the MCP tools publish them as input and output schemas, the dinoapi client and
// the sandbox validate requests against them, and the tests check every golden reply with them.
package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The names of the schema documents in this package.
const (
	SpendRequest   = "spend_request.json"   // body of POST /v1/spend
	Spend          = "spend.json"           // a spend object
	Balance        = "balance.json"         // body of GET /v1/balance
	Error          = "error.json"           // body of every error response
	SpendLookup    = "spend_lookup.json"    // path parameters of GET /v1/spend/{id}
	BalanceRequest = "balance_request.json" // GET /v1/balance takes no parameters
)

//go:embed *.json
var files embed.FS

// Names lists every schema document, sorted.
func Names() []string {
	entries, _ := files.ReadDir(".")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Document returns the raw bytes of the named schema. It panics on an unknown name, because the
// names are constants of this package and a typo is a programming error caught by any test.
func Document(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("schemas: no schema %q", name))
	}
	return b
}

// FieldError is one reason a value failed its schema, named by the field at fault.
type FieldError struct {
	// Param is the top-level field at fault (empty when the value as a whole is wrong).
	Param string
	// Problem says what is wrong, such as "got string, want integer".
	Problem string
	// Hint is the field's description from the schema: what a correct value looks like.
	Hint string
}

// Error renders the field error as one sentence a model or a person can act on.
func (e FieldError) Error() string {
	var sb strings.Builder
	if e.Param != "" {
		fmt.Fprintf(&sb, "%s: ", e.Param)
	}
	sb.WriteString(e.Problem)
	if e.Hint != "" {
		fmt.Fprintf(&sb, " (%s)", e.Hint)
	}
	return sb.String()
}

type compiled struct {
	schema *jsonschema.Schema
	hints  map[string]string
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*compiled{}
	printer = message.NewPrinter(language.English)
)

func compile(name string) (*compiled, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if c, ok := cache[name]; ok {
		return c, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Document(name)))
	if err != nil {
		return nil, fmt.Errorf("schemas: parse %s: %w", name, err)
	}
	comp := jsonschema.NewCompiler()
	if err := comp.AddResource(name, doc); err != nil {
		return nil, fmt.Errorf("schemas: add %s: %w", name, err)
	}
	sch, err := comp.Compile(name)
	if err != nil {
		return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
	}
	c := &compiled{schema: sch, hints: map[string]string{}}
	if m, ok := doc.(map[string]any); ok {
		if props, ok := m["properties"].(map[string]any); ok {
			for k, v := range props {
				if pm, ok := v.(map[string]any); ok {
					if d, ok := pm["description"].(string); ok {
						c.hints[k] = d
					}
				}
			}
		}
	}
	cache[name] = c
	return c, nil
}

// ValidateJSON checks raw JSON against the named schema. Numbers are kept exact, so 12000.5 is not
// an integer and 2^60 does not lose precision. The errors come back sorted by field, one per
// problem; nil means the value is valid.
func ValidateJSON(name string, raw []byte) []FieldError {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return []FieldError{{Problem: "the body is not valid JSON: " + err.Error()}}
	}
	return Validate(name, v)
}

// Validate checks a value decoded by jsonschema.UnmarshalJSON (or plain encoding/json) against the
// named schema and returns one FieldError per problem, sorted by field.
func Validate(name string, v any) []FieldError {
	c, err := compile(name)
	if err != nil {
		// The schemas are embedded and compiled by the tests; reaching this is a build defect.
		panic(err)
	}
	err = c.schema.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Problem: err.Error()}}
	}
	var out []FieldError
	collect(ve, c.hints, &out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Param < out[j].Param })
	return out
}

func collect(ve *jsonschema.ValidationError, hints map[string]string, out *[]FieldError) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, hints, out)
		}
		return
	}
	param := ""
	if len(ve.InstanceLocation) > 0 {
		param = ve.InstanceLocation[0]
	}
	switch k := ve.ErrorKind.(type) {
	case *kind.Required:
		for _, p := range k.Missing {
			*out = append(*out, FieldError{Param: p, Problem: "is required but missing", Hint: hints[p]})
		}
		return
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			*out = append(*out, FieldError{Param: p, Problem: "is not a known field; remove it or check its spelling"})
		}
		return
	case *kind.Pattern:
		*out = append(*out, FieldError{Param: param, Problem: "has the wrong format", Hint: hints[param]})
		return
	case *kind.Minimum:
		*out = append(*out, FieldError{Param: param, Problem: fmt.Sprintf("must be at least %s, got %s", ratString(k.Want), ratString(k.Got)), Hint: hints[param]})
		return
	case *kind.Maximum:
		*out = append(*out, FieldError{Param: param, Problem: fmt.Sprintf("must be at most %s, got %s", ratString(k.Want), ratString(k.Got)), Hint: hints[param]})
		return
	case *kind.MinLength:
		*out = append(*out, FieldError{Param: param, Problem: fmt.Sprintf("must be at least %d character(s), got %d", k.Want, k.Got), Hint: hints[param]})
		return
	case *kind.MaxLength:
		*out = append(*out, FieldError{Param: param, Problem: fmt.Sprintf("must be at most %d characters, got %d", k.Want, k.Got), Hint: hints[param]})
		return
	}
	*out = append(*out, FieldError{Param: param, Problem: ve.ErrorKind.LocalizedString(printer), Hint: hints[param]})
}

// ratString prints an exact number: an integer as its digits, anything else as a decimal.
func ratString(r *big.Rat) string {
	if r == nil {
		return "?"
	}
	if r.IsInt() {
		return r.Num().String()
	}
	return r.FloatString(6)
}

// Join renders several field errors as one message.
func Join(errs []FieldError) string {
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}
