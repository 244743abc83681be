package schemas_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dinoid/dino-mcp/schemas"
)

func TestEverySchemaCompilesAndIsObject(t *testing.T) {
	names := schemas.Names()
	assert.Len(t, names, 6)
	for _, n := range names {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(schemas.Document(n), &doc), n)
		assert.Equal(t, "object", doc["type"], n)
		assert.NotEmpty(t, doc["description"], n)
		_ = schemas.ValidateJSON(n, []byte(`{}`)) // compiles, or panics
	}
	assert.Panics(t, func() { schemas.Document("nope.json") })
}

func TestRequestSchemasAreStrictResponseSchemasTolerant(t *testing.T) {
	for _, n := range []string{schemas.SpendRequest, schemas.SpendLookup, schemas.BalanceRequest} {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(schemas.Document(n), &doc))
		assert.Equal(t, false, doc["additionalProperties"], n)
	}
	spend := `{"id":"req_1","status":"approved","amount_cents":1,"currency":"usd","merchant_name":"m","a_future_field":{"x":1}}`
	assert.Empty(t, schemas.ValidateJSON(schemas.Spend, []byte(spend)))
}

func TestFieldErrorsNameTheFieldAndTheFix(t *testing.T) {
	errs := schemas.ValidateJSON(schemas.SpendRequest, []byte(`{"amount_cents":"120.00","currency":"USD","merchant_name":"","extra":1}`))
	msg := schemas.Join(errs)
	for _, want := range []string{
		"amount_cents: got string, want integer", "12000 means $120.00",
		"currency: has the wrong format", "three lowercase letters",
		"merchant_name: must be at least 1 character(s), got 0",
		"reason: is required but missing",
		"extra: is not a known field",
	} {
		assert.Contains(t, msg, want)
	}
	// Exact numbers: 2^60 keeps its digits, and 1.0e3 is not an integer with a fraction.
	e := schemas.ValidateJSON(schemas.SpendRequest, []byte(`{"amount_cents":1152921504606846976,"currency":"usd","merchant_name":"m","reason":"r"}`))
	require.Len(t, e, 1)
	assert.Equal(t, "amount_cents: must be at most 9007199254740991, got 1152921504606846976", strings.SplitN(e[0].Error(), " (", 2)[0])
	assert.NotEmpty(t, schemas.ValidateJSON(schemas.SpendRequest, []byte(`not json`)))
	assert.Empty(t, schemas.ValidateJSON(schemas.BalanceRequest, nil), "an empty body is an empty object")
}
