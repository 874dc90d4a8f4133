package api

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"testing"
)

// A streamed list answer is byte for byte what writeJSON writes for the same list.
func TestWriteListSameBytes(t *testing.T) {
	for _, key := range []string{"virtualmachine", "account", "count2", "a<b>&"} {
		items := make([]any, 0, 300)
		for i := 0; i < 300; i++ {
			items = append(items, &nicResponse{ID: fmt.Sprintf("id-%d", i), IPAddress: "10.0.0.1", NetworkName: "<net & \"x\">\u2028"})
			items = append(items, map[string]any{"z": i, "a": []string{"x"}, "html": "<&>"})
		}
		l := ListResult{Key: key, Items: items, Count: 12345}
		want := httptest.NewRecorder()
		writeJSON(want, 200, map[string]any{responseKey("listThings"): inner(l)})
		got := httptest.NewRecorder()
		writeResult(got, "listThings", l)
		if !bytes.Equal(want.Body.Bytes(), got.Body.Bytes()) {
			t.Fatalf("key %s: streamed answer differs:\n%.300s\nwant\n%.300s", key, got.Body.Bytes(), want.Body.Bytes())
		}
		if got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || got.Code != want.Code {
			t.Fatalf("headers or status differ")
		}
	}
}
