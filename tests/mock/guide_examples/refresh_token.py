# Copied verbatim from the Exist API v2 guide, guide/write_client.md (Hello Code).
# tests/mock/test_guide_examples.py runs it against mock-exist, changing only the host
# and filling in the token/client placeholders.
import requests

CLIENT_ID = ''
CLIENT_SECRET = ''

def get_token(refresh_token):
    # make our request using a different grant type and our refresh token
    response = requests.post('https://exist.io/oauth2/access_token', {
        'grant_type':'refresh_token',
        'refresh_token': refresh_token,
        'client_id': CLIENT_ID,
        'client_secret': CLIENT_SECRET,
    })
    # parse the response into json
    data = response.json()
    print("\nNEW TOKENS")
    print('Access token: ', data['access_token'])
    print('Refresh token:', data['refresh_token'])


refresh_token = input("Refresh token: ")
get_token(refresh_token)
