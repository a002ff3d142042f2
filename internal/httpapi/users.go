package httpapi

import (
	"context"
	"errors"

	"github.com/sophsapp/sophsapp/gen/api"
)

var errNotImplemented = errors.New("not implemented")

func (s *Server) CreateUser(ctx context.Context, request api.CreateUserRequestObject) (api.CreateUserResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) Login(ctx context.Context, request api.LoginRequestObject) (api.LoginResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) GetCurrentUser(ctx context.Context, request api.GetCurrentUserRequestObject) (api.GetCurrentUserResponseObject, error) {
	return nil, errNotImplemented
}

func (s *Server) UpdateCurrentUser(ctx context.Context, request api.UpdateCurrentUserRequestObject) (api.UpdateCurrentUserResponseObject, error) {
	return nil, errNotImplemented
}
