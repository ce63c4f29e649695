package audit

import (
	"encoding/json"
	"io"
	"mime"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"sigs.k8s.io/yaml"
)

// maxCapture bounds the request and response bodies kept for an event (the
// API server's own request limit is 3 MiB); a larger body is left out.
const maxCapture = 3 << 20

// completeBodies fills the failure Status and, as the level asks, the
// request and response objects: those the API server logged, else the
// JSON or YAML bodies kept. Called with rec.mu held.
func (rec *record) completeBodies() {
	level := rec.decision.Level
	switch {
	case rec.requestObject != nil:
		rec.ev.RequestObject = &runtime.Unknown{Raw: rec.object(rec.requestObject), ContentType: runtime.ContentTypeJSON}
	case rec.request != nil && !rec.request.overflow && levelAbove(level, auditv1.LevelMetadata):
		if body := toJSON(rec.request.buf, rec.requestType); body != nil {
			rec.ev.RequestObject = &runtime.Unknown{Raw: rec.object(body), ContentType: runtime.ContentTypeJSON}
		}
	}
	if rec.response != nil && !rec.response.overflow && json.Valid(rec.response.buf) {
		var status metav1.Status
		if json.Unmarshal(rec.response.buf, &status) == nil && status.Kind == "Status" {
			rec.status = &status
		}
		if level == auditv1.LevelRequestResponse && !rec.longRunning {
			rec.responseObject = rec.response.buf
		}
	}
	if st := rec.status; st != nil {
		rec.ev.ResponseStatus = &metav1.Status{Status: st.Status, Message: st.Message, Reason: st.Reason,
			Details: st.Details, Code: rec.ev.ResponseStatus.Code}
	}
	if rec.responseObject != nil {
		rec.ev.ResponseObject = &runtime.Unknown{Raw: rec.object(rec.responseObject), ContentType: runtime.ContentTypeJSON}
	}
}

// object is a body as the event records it: without managedFields when
// the policy says so.
func (rec *record) object(body []byte) []byte {
	if !rec.decision.OmitManagedFields {
		return body
	}
	var obj map[string]any
	if json.Unmarshal(body, &obj) != nil {
		return body
	}
	dropManagedFields(obj)
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			if m, ok := it.(map[string]any); ok {
				dropManagedFields(m)
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return body
	}
	return out
}

func dropManagedFields(obj map[string]any) {
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "managedFields")
	}
}

// toJSON returns a JSON or YAML body as JSON, nil for other encodings
// (protobuf).
func toJSON(body []byte, contentType string) []byte {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "" || mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if json.Valid(body) {
			return body
		}
	case mt == "application/yaml" || strings.HasSuffix(mt, "+yaml"):
		if out, err := yaml.YAMLToJSON(body); err == nil {
			return out
		}
	}
	return nil
}

// capture keeps up to maxCapture bytes.
type capture struct {
	buf      []byte
	overflow bool
}

func (c *capture) Write(p []byte) {
	if c.overflow || len(c.buf)+len(p) > maxCapture {
		c.overflow, c.buf = true, nil
		return
	}
	c.buf = append(c.buf, p...)
}

// teeBody keeps what the handler reads of the request body.
type teeBody struct {
	io.ReadCloser
	c *capture
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.c.Write(p[:n])
	return n, err
}
