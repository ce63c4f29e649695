package image

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/peapod/peapod/internal/reference"
)

// maxNameFile is the longest file name Linux filesystems accept; it limits
// stored references to 191 bytes.
const maxNameFile = 255

func (s *Store) namePath(name string) string {
	return s.path("names", base64.RawURLEncoding.EncodeToString([]byte(name)))
}

// readName returns the image ID a normalized reference points to.
func (s *Store) readName(name string) (string, error) {
	data, err := os.ReadFile(s.namePath(name))
	if err != nil {
		return "", err
	}
	id, ok := parseID(strings.TrimSpace(string(data)))
	if !ok {
		return "", fmt.Errorf("name %s holds a malformed image ID", name)
	}
	return id, nil
}

// readNames returns every stored reference and the image ID it points to.
func (s *Store) readNames() (map[string]string, error) {
	entries, err := os.ReadDir(s.path("names"))
	if err != nil {
		return nil, fmt.Errorf("listing image names: %w", err)
	}
	names := make(map[string]string, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(e.Name())
		if err != nil {
			continue
		}
		id, err := s.readName(string(raw))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			s.log.Warn("skipping unreadable image name", "name", string(raw), "err", err)
			continue
		}
		names[string(raw)] = id
	}
	return names, nil
}

// setNames points each of names at id. The caller holds the store lock.
func (s *Store) setNames(id string, names []string) error {
	for _, name := range names {
		if base64.RawURLEncoding.EncodedLen(len(name)) > maxNameFile {
			return fmt.Errorf("naming image %s: reference %s is too long to store", id, name)
		}
		if err := writeFileAtomic(s.namePath(name), []byte(id+"\n")); err != nil {
			return fmt.Errorf("naming image %s: %w", id, err)
		}
	}
	return nil
}

// Tag adds the name newRef to the image named by refOrID. If newRef
// already names another image, it is moved.
func (s *Store) Tag(refOrID, newRef string) error {
	name, err := reference.Normalize(newRef)
	if err != nil {
		return fmt.Errorf("tagging %s as %q: %w", refOrID, newRef, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	id, err := s.resolve(refOrID)
	if err != nil {
		return err
	}
	if _, err := s.readRecord(id); err != nil {
		return err
	}
	return s.setNames(id, []string{name})
}

// Remove removes an image or one of its names. Given an ID or a repo
// digest it removes the image with all its names. Given a tag it removes
// that tag, and the whole image once no tag is left. Layers and blobs stay
// on disk until PruneLayers.
func (s *Store) Remove(refOrID string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	id, err := s.resolve(refOrID)
	if err != nil {
		return err
	}
	if _, err := s.readRecord(id); err != nil {
		return err
	}
	names, err := s.readNames()
	if err != nil {
		return err
	}
	if _, isID := parseID(refOrID); !isID {
		name, _ := reference.Normalize(refOrID) // resolve succeeded, so it parses
		if !strings.Contains(name, "@") {
			if err := removeFile(s.namePath(name)); err != nil {
				return err
			}
			delete(names, name)
			for n, other := range names {
				if other == id && !strings.Contains(n, "@") {
					return nil // still tagged
				}
			}
		}
	}
	for n, other := range names {
		if other == id {
			if err := removeFile(s.namePath(n)); err != nil {
				return err
			}
		}
	}
	if err := removeFile(s.recordPath(id)); err != nil {
		return err
	}
	s.log.Info("removed image", "id", id)
	return nil
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
