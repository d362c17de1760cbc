// Package registryprocessor will turn a corporate registry's event queue
// into verifiable credentials posted to a credential agent, announcing on
// bcreg.events.processed and bcreg.credentials.posted. Its issue fills
// this module; until then it holds only its place in go.work.
package registryprocessor
