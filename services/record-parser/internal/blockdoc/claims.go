package blockdoc

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"tributary.dev/libs/blockstream"
)

// State ids (StateIdentifier) whose map updates name created entities or
// carry what a record held; the numbers are the consensus node's, seen on
// the fixtures' wire (ACCOUNTS 2, FILES 6, NODES 20, TOPICS 21).
const (
	stateFiles  = 6
	stateTokens = 7
	stateNodes  = 20
	stateTopics = 21
)

// claim is what a transaction takes from its unit's state changes: the
// entity it created and, for a message, the topic's new sequence number
// and running hash.
type claim struct {
	receiptField protowire.Number // receipt field of the created id, 0 if none
	id           []byte           // the id message (a node id: nil, see nodeID)
	nodeID       uint64
	topicSeq     uint64
	topicHash    []byte
	hasTopic     bool
}

// entity is an id changed in a unit's state, with its number for sorting.
type entity struct {
	num int64
	id  []byte
}

type topicState struct {
	topic []byte // TopicID
	seq   uint64
	hash  []byte
	taken bool
}

// unit is the state-change context of a transactional unit (a top-level
// transaction and its children, who share its state changes): the ids each
// kind of create may claim, the highest first, as the mirror node's
// StateChangeContext gives them out.
type unit struct {
	files, tokens, topics []entity
	nodes                 []uint64
	topicStates           []topicState
}

func (u *unit) reset() {
	u.files, u.tokens, u.topics, u.nodes, u.topicStates = u.files[:0], u.tokens[:0], u.topics[:0], u.nodes[:0], u.topicStates[:0]
}

// load reads the map updates of the state_changes items [from, to).
func (u *unit) load(items []blockstream.Item, from, to int) error {
	for i := from; i < to; i++ {
		it := fields{buf: items[i].Payload}
		var f field
		for it.next(&f) {
			if f.num != 2 || f.typ != protowire.BytesType {
				continue
			}
			if err := u.change(f.b); err != nil {
				return fmt.Errorf("item %d: state change: %w", i, err)
			}
		}
		if it.err != nil {
			return fmt.Errorf("item %d: state changes: %w", i, it.err)
		}
	}
	byNum := func(a, b entity) int { return int(min(max(a.num-b.num, -1), 1)) }
	slices.SortStableFunc(u.files, byNum)
	slices.SortStableFunc(u.tokens, byNum)
	slices.SortStableFunc(u.topics, byNum)
	slices.Sort(u.nodes)
	return nil
}

// change reads one StateChange: state_id = 1, map_update = 5 {key = 1,
// value = 2}.
func (u *unit) change(m []byte) error {
	var stateID uint64
	var update []byte
	it := fields{buf: m}
	var f field
	for it.next(&f) {
		switch {
		case f.num == 1 && f.typ == protowire.VarintType:
			stateID = f.v
		case f.num == 5 && f.typ == protowire.BytesType:
			update = f.b
		}
	}
	if it.err != nil || update == nil {
		return it.err
	}
	switch stateID {
	case stateFiles, stateTokens, stateNodes, stateTopics:
	default:
		return nil
	}
	key, err := bytesField(update, 1)
	if err != nil {
		return err
	}
	value, err := bytesField(update, 2)
	if err != nil {
		return err
	}
	switch stateID {
	case stateFiles:
		// MapChangeKey.file_id_key = 4.
		if id, err := bytesField(key, 4); err != nil || id == nil {
			return err
		} else {
			u.files = append(u.files, entity{entityNum(id), id})
		}
	case stateNodes:
		// MapChangeKey.entity_number_key = 3, a UInt64Value {value = 1}.
		wrapped, err := bytesField(key, 3)
		if err != nil || wrapped == nil {
			return err
		}
		n, _, err := varintField(wrapped, 1)
		if err != nil {
			return err
		}
		u.nodes = append(u.nodes, n)
	case stateTokens:
		// MapChangeValue.token_value = 11, a Token {token_id = 1}.
		token, err := bytesField(value, 11)
		if err != nil || token == nil {
			return err
		}
		id, err := bytesField(token, 1)
		if err != nil {
			return err
		}
		u.tokens = append(u.tokens, entity{entityNum(id), id})
	case stateTopics:
		// MapChangeValue.topic_value = 13, a Topic {topic_id = 1,
		// sequence_number = 2, running_hash = 7}.
		topic, err := bytesField(value, 13)
		if err != nil || topic == nil {
			return err
		}
		var id, hash []byte
		var seq uint64
		it := fields{buf: topic}
		for it.next(&f) {
			switch {
			case f.num == 1 && f.typ == protowire.BytesType:
				id = f.b
			case f.num == 2 && f.typ == protowire.VarintType:
				seq = f.v
			case f.num == 7 && f.typ == protowire.BytesType:
				hash = f.b
			}
		}
		if it.err != nil {
			return it.err
		}
		u.topics = append(u.topics, entity{entityNum(id), id})
		if seq != 0 {
			// One state per topic: the last change of it.
			s := topicState{topic: id, seq: seq, hash: hash}
			if i := u.topicIndex(id); i >= 0 {
				u.topicStates[i] = s
			} else {
				u.topicStates = append(u.topicStates, s)
			}
		}
	}
	return nil
}

func popEntity(s *[]entity) []byte {
	if len(*s) == 0 {
		return nil
	}
	e := (*s)[len(*s)-1]
	*s = (*s)[:len(*s)-1]
	return e.id
}

func (u *unit) topicIndex(topic []byte) int {
	k := idKey(topic)
	for i := range u.topicStates {
		if idKey(u.topicStates[i].topic) == k {
			return i
		}
	}
	return -1
}

// takeTopic gives the topic's state to the first message that asks for
// it (messages are served last to first), nothing to the ones before.
func (u *unit) takeTopic(topic []byte) (topicState, bool) {
	i := u.topicIndex(topic)
	if i < 0 || u.topicStates[i].taken {
		return topicState{}, false
	}
	u.topicStates[i].taken = true
	return u.topicStates[i], true
}

// idKey is shard, realm and number of an id message.
func idKey(msg []byte) [3]uint64 {
	var k [3]uint64
	it := fields{buf: msg}
	var f field
	for it.next(&f) {
		if f.typ == protowire.VarintType && f.num >= 1 && f.num <= 3 {
			k[f.num-1] = f.v
		}
	}
	return k
}
