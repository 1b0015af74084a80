// Package rules embeds knockwatch's built-in magic-packet signatures
// (magic.yaml). They are data, not code: internal/rules loads and validates
// them, and users extend or replace them with `--rules FILE` in the same
// format. The format is described at the top of magic.yaml.
package rules

import _ "embed"

// Magic is the built-in magic-packet rule file.
//
//go:embed magic.yaml
var Magic []byte

// MagicName names the built-in file in error messages and alert attributes.
const MagicName = "builtin:rules/magic.yaml"
