// Starts Swagger UI on the API's own OpenAPI document. A file rather than
// an inline script, so the page's Content-Security-Policy allows scripts
// from this origin only.
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: true,
    displayRequestDuration: true,
    filter: true,
    persistAuthorization: false,
    // No calls to validator.swagger.io: the reference works offline.
    validatorUrl: null,
  });
});
