package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzNetConfDecode holds netConf's key-by-key decode to encoding/json's
// reflective one (plainNetConf, with the type named as before): the same
// fields and the same error, on any input.
func FuzzNetConfDecode(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"cni0","isDefaultGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}`,
		`{"cniVersion":"1.0.0","name":"n","type":"bridge","vlan":100,"vlanTrunk":[{"minID":1,"maxID":4094},{"id":7},null],"mtu":9000,"runtimeConfig":{"mac":"02:00:00:00:00:01"}}`,
		`{"name":"n","args":{"cni":{"mac":"01:00:5e:00:00:01"}},"ipMasqBackend":"nftables","macspoofchk":true,"logFile":"/x","logLevel":"debug"}`,
		`{"prevResult":{"cniVersion":"1.1.0","ips":[{"address":"10.1.0.2/24","interface":9}]},"cni.dev/valid-attachments":[{"containerID":"c","ifname":"eth0"}],"dns":{"nameservers":["10.0.0.10"]},"capabilities":{"portMappings":true}}`,
		// Keys by case-insensitive match, exact duplicates, duplicates
		// by case (the document's order decides), Unicode folding.
		`{"BRIDGE":"a","IsGateway":true,"IPAM":{"TYPE":"host-local"}}`,
		`{"bridge":"a","bridge":"b"}`,
		`{"bridge":"a","Bridge":"b"}`,
		`{"Bridge":"a","bridge":"b"}`,
		`{"capabilities":{"a":true},"Capabilities":{"b":true}}`,
		`{"macspoofch\u212a":true,"ipMa\u017fq":true}`,
		// Nulls, unknown keys of any type, and wrong types, top-level and
		// nested, several of them (the first in the document is reported).
		`{"mtu":null,"vlanTrunk":null,"ipam":null,"unknown":[1,{"x":null}]}`,
		`{"mtu":"1500"}`,
		`{"mtu":1500.5}`,
		`{"vlan":4096,"mtu":true,"bridge":7}`,
		`{"bridge":7,"mtu":true}`,
		`{"ipam":{"type":5}}`,
		`{"args":{"cni":{"mac":1}}}`,
		`{"vlanTrunk":[{"id":"7"}]}`,
		`{"prevResult":[]}`,
		`null`, `[]`, `"x"`, `5`, `{}`, `true`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := netConf{BrName: defaultBridge}
		gotErr := json.Unmarshal(b, &got)
		want := netConf{BrName: defaultBridge}
		wantErr := json.Unmarshal(b, (*plainNetConf)(&want))
		if errText(gotErr) != strings.ReplaceAll(errText(wantErr), "plainNetConf", "netConf") {
			t.Fatalf("%s:\nerror %v\nwant  %v", b, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\ndecoded %+v\nwant    %+v", b, got, want)
		}
	})
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Every key encoding/json decodes into netConf is in fields(), and no
// other: a field added to netConf without its key there would be ignored.
func TestNetConfFieldsAreEveryKey(t *testing.T) {
	var c netConf
	var got []string
	for _, f := range c.fields() {
		got = append(got, f.name)
	}
	want := jsonKeys(reflect.TypeFor[netConf]())
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fields() names\n%q\nencoding/json decodes\n%q", got, want)
	}
}

// jsonKeys lists the keys encoding/json decodes into struct type t,
// embedded structs' fields promoted.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-":
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			keys = append(keys, jsonKeys(f.Type)...)
		case !f.IsExported():
		case tag != "":
			keys = append(keys, tag)
		default:
			keys = append(keys, f.Name)
		}
	}
	return keys
}
